// Manifest format 2 (src/fleet/manifest.ts): the chunk hashes are signed with the rest, a
// change to any of them (or to chunk_size, or a dropped chunk) breaks the signature, the
// chunk list is bounded, format 1 verifies as it always did, and publish's digests
// (image-digests.ts) are the sha256 of each chunk and of the whole image in one pass.

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { imageDigests } from '../../../src/fleet/image-digests.js';
import {
  chunkingOf, DEFAULT_POLICY, MAX_CHUNKS, parseManifest, signedBytes, signManifest, verifyManifest, type Manifest, type UnsignedManifest,
} from '../../../src/fleet/manifest.js';

const keys = generateKeyPairSync('ed25519');
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const digest = (n: number): string => sha(Buffer.from([n]));
const v1: UnsignedManifest = {
  update_id: 'fw-2.1.0', version: '2.1.0', size: 2500, checksum: `sha256:${'ab'.repeat(32)}`, target_nodes: ['n1', 'n2'], policy: DEFAULT_POLICY,
};
const v2: UnsignedManifest = { ...v1, manifest_version: 2, chunk_size: 1024, chunks: [digest(0), digest(1), digest(2)] };

const problemsOf = (input: unknown): string[] => {
  const parsed = parseManifest(input);
  return 'problems' in parsed ? parsed.problems : [];
};

test('a format 2 manifest verifies; any changed chunk hash, another chunk_size, a dropped or added chunk, or a stripped chunk list breaks the signature', () => {
  const manifest = signManifest(v2, keys.privateKey);
  assert.ok(verifyManifest(manifest, keys.publicKey));
  const { chunks } = manifest as Required<Manifest>;
  const tampered: Manifest[] = [
    { ...manifest, chunks: [digest(9), chunks[1]!, chunks[2]!] },
    { ...manifest, chunks: [chunks[0]!, chunks[2]!, chunks[1]!] },
    { ...manifest, chunk_size: 2048 },
    { ...manifest, chunks: chunks.slice(0, 2) },
    { ...manifest, chunks: [...chunks, digest(3)] },
    { ...manifest, size: 2501 },
  ];
  for (const changed of tampered) assert.not.ok(verifyManifest(changed, keys.publicKey), JSON.stringify(changed).slice(0, 200));
  // A gateway that strips format 2's fields does not get a format 1 manifest that verifies.
  const { manifest_version: _version, chunk_size: _size, chunks: _chunks, ...stripped } = manifest;
  assert.not.ok(verifyManifest(stripped, keys.publicKey), 'v2 signature over v1 fields');
  // Nor does a format 1 signature pass with chunk hashes added.
  const signedV1 = signManifest(v1, keys.privateKey);
  assert.not.ok(verifyManifest({ ...signedV1, manifest_version: 2, chunk_size: 1024, chunks }, keys.publicKey));
});

test('format 1 is unchanged: no manifest_version field, the v1 signed bytes of old, and it verifies', () => {
  const manifest = signManifest(v1, keys.privateKey);
  assert.not.ok('manifest_version' in manifest);
  assert.is(signedBytes(manifest).toString(), JSON.stringify(['coap-fleet-manifest-v1', 'fw-2.1.0', '2.1.0', 2500, v1.checksum, ['n1', 'n2']]));
  assert.ok(verifyManifest(manifest, keys.publicKey));
  const parsed = parseManifest(JSON.parse(JSON.stringify(manifest)));
  assert.ok('manifest' in parsed && verifyManifest(parsed.manifest, keys.publicKey));
  assert.is(chunkingOf((parsed as { manifest: Manifest }).manifest), undefined);
  // An explicit manifest_version 1 is the same manifest.
  assert.ok('manifest' in parseManifest({ ...manifest, manifest_version: 1 }));
});

test('parseManifest keeps format 2\'s fields through JSON, so the gateway stores and serves them unchanged', () => {
  const manifest = signManifest(v2, keys.privateKey);
  const parsed = parseManifest(JSON.parse(JSON.stringify(manifest)));
  assert.ok('manifest' in parsed);
  const kept = (parsed as { manifest: Manifest }).manifest;
  assert.equal(kept, manifest);
  assert.ok(verifyManifest(kept, keys.publicKey));
  assert.equal(chunkingOf(kept), { chunkSize: 1024, chunks: v2.chunks });
});

test('parseManifest refuses a bad chunk_size, a chunk count that is not size / chunk_size rounded up, bad digests, format 2 fields in format 1, another version', () => {
  const good = JSON.parse(JSON.stringify(signManifest(v2, keys.privateKey))) as Record<string, unknown>;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, chunk_size: 1000 }, /^chunk_size: a power of two 1024\.\.1048576$/],
    [{ ...good, chunk_size: 512 }, /^chunk_size/],
    [{ ...good, chunk_size: 2 * 1024 * 1024 }, /^chunk_size/],
    [{ ...good, chunk_size: '1024' }, /^chunk_size/],
    [{ ...good, chunks: (good.chunks as string[]).slice(0, 2) }, /^chunks: 3 sha256 hex digests/],
    [{ ...good, chunks: 'abc' }, /^chunks: 3 sha256/],
    [{ ...good, chunks: [digest(0), digest(1), digest(2).toUpperCase()] }, /^chunks: 64 lowercase hex digits each$/],
    [{ ...good, chunks: [digest(0), digest(1), 7] }, /^chunks: 64 lowercase/],
    [{ ...good, manifest_version: 3 }, /^manifest_version: 1 or 2$/],
    [{ ...good, manifest_version: undefined }, /^chunk_size, chunks: only with manifest_version 2$/],
  ];
  for (const [input, expected] of cases) {
    const problems = problemsOf(input);
    assert.is(problems.length, 1, JSON.stringify(problems));
    assert.match(problems[0]!, expected);
  }
});

test('the chunk list is bounded: more than 65,536 chunks is refused before the hashes are looked at', () => {
  const size = (MAX_CHUNKS + 1) * 1024;
  const problems = problemsOf({ ...signManifest(v1, keys.privateKey), size, manifest_version: 2, chunk_size: 1024, chunks: [] });
  assert.equal(problems, [`chunks: ${MAX_CHUNKS + 1} chunks of 1024 bytes, over the ${MAX_CHUNKS} limit`]);
  // At the bound itself: accepted (and signed over all of it).
  const chunks = Array.from({ length: MAX_CHUNKS }, (_, i) => sha(Buffer.from(String(i))));
  const atBound = signManifest({ ...v1, size: MAX_CHUNKS * 1024, manifest_version: 2, chunk_size: 1024, chunks }, keys.privateKey);
  const parsed = parseManifest(JSON.parse(JSON.stringify(atBound)));
  assert.ok('manifest' in parsed && verifyManifest(parsed.manifest, keys.publicKey));
});

test('imageDigests: the sha256 of each chunk (the last one shorter) and of the whole image, for sizes around the chunk and read boundaries', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-digests-'));
  try {
    for (const [size, chunkSize] of [[1, 1024], [1024, 1024], [1025, 1024], [200_000, 1024], [65_536 * 2 + 7, 65_536], [300_000, 1024 * 1024], [196_608, 4096]] as const) {
      const bytes = randomBytes(size);
      const path = join(dir, `image-${size}-${chunkSize}`);
      await writeFile(path, bytes);
      const digests = await imageDigests(path, chunkSize);
      const expected = Array.from({ length: Math.ceil(size / chunkSize) }, (_, i) => sha(bytes.subarray(i * chunkSize, (i + 1) * chunkSize)));
      assert.equal(digests, { sha256: sha(bytes), chunks: expected, size }, `${size} bytes in chunks of ${chunkSize}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
