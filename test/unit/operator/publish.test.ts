// Publishing's first half, with nothing sent: the image's manifest built and signed, and
// its refusals as the operator's domain errors (never the CLI's flag-named usage errors).

import { generateKeyPairSync, createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../src/cli/errors.js';
import { DEFAULT_POLICY, verifyManifest } from '../../../src/fleet/manifest.js';
import { ImageError, OperatorError, SigningKeyError } from '../../../src/operator/errors.js';
import { buildManifest, readSigningKey, type ManifestRequest } from '../../../src/operator/publish.js';

const publisher = generateKeyPairSync('ed25519');
const privateKey = publisher.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-operator-publish-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const request = (image: string, key = privateKey): ManifestRequest => ({
  image, version: '2.0.0', updateId: 'fw-2.0.0', targets: ['n1', 'n2'], policy: DEFAULT_POLICY, privateKey: key,
});

/** The error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const thrown = await promise.then(() => undefined, (error: unknown) => error);
  assert.instance(thrown, Error, 'resolved, expected a rejection');
  return thrown as Error;
}

test('the manifest of an image: its size and sha256, the targets and policy, signed by the publisher', async () => {
  const image = join(dir, 'image.bin');
  const bytes = randomBytes(70_000);
  await writeFile(image, bytes);
  const manifest = await buildManifest(request(image));
  assert.is(manifest.size, bytes.length);
  assert.is(manifest.checksum, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  assert.equal(manifest.target_nodes, ['n1', 'n2']);
  assert.equal(manifest.policy, DEFAULT_POLICY);
  assert.ok(verifyManifest(manifest, publisher.publicKey));
  // Format 2 by default: 70,000 bytes are two chunks of 64 KiB, the second shorter.
  assert.is(manifest.manifest_version, 2);
  assert.is(manifest.chunk_size, 65_536);
  const sha = (part: Buffer): string => createHash('sha256').update(part).digest('hex');
  assert.equal(manifest.chunks, [sha(bytes.subarray(0, 65_536)), sha(bytes.subarray(65_536))]);
});

test('manifestVersion 1: a format 1 manifest for agents that know only it, without chunk hashes', async () => {
  const image = join(dir, 'image-v1.bin');
  const bytes = randomBytes(5000);
  await writeFile(image, bytes);
  const manifest = await buildManifest({ ...request(image), manifestVersion: 1 });
  assert.equal(Object.keys(manifest).sort(), ['checksum', 'policy', 'signature', 'size', 'target_nodes', 'update_id', 'version']);
  assert.is(manifest.checksum, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  assert.ok(verifyManifest(manifest, publisher.publicKey));
});

test('a missing or empty image is an ImageError (OPERATOR_ERR_IMAGE), not a usage error, and names no flag', async () => {
  const missing = join(dir, 'absent.bin');
  const empty = join(dir, 'empty.bin');
  await writeFile(empty, '');
  for (const [image, message] of [[missing, `cannot read ${missing}: ENOENT`], [empty, `${empty} is empty (0 bytes): there is nothing to install`]] as const) {
    const error = await rejection(buildManifest(request(image)));
    assert.instance(error, ImageError);
    assert.instance(error, OperatorError);
    assert.not.instance(error, UsageError);
    assert.is((error as OperatorError).code, 'OPERATOR_ERR_IMAGE');
    assert.is(error.message, message);
    assert.not.match(error.message, '--');
  }
});

test('a key that cannot sign, or cannot be read, is a SigningKeyError (OPERATOR_ERR_SIGNING_KEY)', async () => {
  const image = join(dir, 'small.bin');
  await writeFile(image, 'firmware');
  const notAKey = await rejection(buildManifest(request(image, 'not a PEM key')));
  assert.instance(notAKey, SigningKeyError);
  assert.is((notAKey as OperatorError).code, 'OPERATOR_ERR_SIGNING_KEY');
  const publicOnly = publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.instance(await rejection(buildManifest(request(image, publicOnly))), SigningKeyError);
  const missing = join(dir, 'absent.key');
  const unreadable = await rejection(readSigningKey(missing));
  assert.instance(unreadable, SigningKeyError);
  assert.is(unreadable.message, `cannot read ${missing}: ENOENT`);
});

test.run();
