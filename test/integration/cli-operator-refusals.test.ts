// Operator mistakes the command line refuses before anything goes wrong on the fleet
// (issue 9, item 6), as real processes: an empty image or an unknown manifest format at
// `publish`, and a private key given to the gateway as the publisher's public key.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../helpers/cli.js';

let dir: string;
const keys = generateKeyPairSync('ed25519');

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-refusals-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('publish refuses an empty image with exit 2, before it creates anything', async () => {
  const image = join(dir, 'empty.bin');
  const key = join(dir, 'publisher.key');
  await writeFile(image, '');
  await writeFile(key, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  // No gateway listens on this port: the refusal comes before any request.
  const result = await runCli(['publish', '--image', image, '--version', '2.0.0', '--targets', 'n1', '--signing-key', key, '--gateway', 'coap://127.0.0.1:9']);
  assert.is(result.status, 2, result.stderr);
  assert.match(result.stderr, `--image: ${image} is empty (0 bytes): there is nothing to install`);
});

test('publish refuses a manifest format other than 1 or 2 with exit 2, before it reads the image', async () => {
  const key = join(dir, 'publisher.key');
  await writeFile(key, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const result = await runCli([
    'publish', '--image', join(dir, 'absent.bin'), '--version', '2.0.0', '--targets', 'n1', '--signing-key', key, '--manifest-version', '3',
    '--gateway', 'coap://127.0.0.1:9',
  ]);
  assert.is(result.status, 2, result.stderr);
  assert.match(result.stderr, '--manifest-version "3": 1 or 2');
});

test('the gateway refuses a private key as publisher_key_file: exit 2 naming it', async () => {
  const key = join(dir, 'publisher-private.pem');
  await writeFile(key, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const result = await runCli(['server', '--data-dir', join(dir, 'gw'), '--port', '0', '--publisher-key-file', key]);
  assert.is(result.status, 2, result.stderr);
  assert.match(result.stderr, `publisher_key_file: ${key} is a private key; give the publisher's public key`);
  assert.is(result.stderr.trim().split('\n').length, 1, 'one line');
});

test.run();
