// Per-chunk verification (src/agent/chunk-verifier.ts, manifest format 2): any single byte
// flipped anywhere in an image is caught when the chunk holding it completes, with every
// chunk before it verified and nothing after it; blocks arriving out of order (a Q-Block2
// burst) are verified the same; the prefix on disk is verified again after a restart.

import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ChunkVerifier } from '../../src/agent/chunk-verifier.js';
import { ChunkMismatchError } from '../../src/agent/errors.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import { check } from '../helpers/check.js';

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const chunksOf = (image: Buffer, chunkSize: number): string[] =>
  Array.from({ length: Math.ceil(image.length / chunkSize) }, (_, i) => sha(image.subarray(i * chunkSize, (i + 1) * chunkSize)));

let dir: string;
test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'coap-fleet-chunks-')); });
test.after(async () => { await rm(dir, { recursive: true, force: true }); });

const image = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  chunkExponent: fc.integer({ min: 10, max: 13 }),
  blockExponent: fc.integer({ min: 4, max: 10 }),
  chunksFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  flipFraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  bit: fc.integer({ min: 0, max: 7 }),
}).map(({ seed, chunkExponent, blockExponent, chunksFraction, flipFraction, bit }) => {
  const chunkSize = 2 ** chunkExponent;
  // 1 to 12 chunks, the last one of any length.
  const size = 1 + Math.floor(chunksFraction * 12 * chunkSize);
  return { seed, chunkSize, blockSize: 2 ** blockExponent, size, flipAt: Math.floor(flipFraction * size), bit };
});

/** Writes `bytes` block by block in the given order through a verifier over `chunks`; the
 * error it threw, if any, and the verified length. */
async function feed(path: string, bytes: Buffer, chunks: string[], chunkSize: number, blockSize: number, order: number[]): Promise<{ error: unknown; verified: number }> {
  const file = await open(path, 'w+');
  const verifier = new ChunkVerifier(file, { chunkSize, chunks, size: bytes.length }, 0);
  try {
    for (const num of order) {
      const block = bytes.subarray(num * blockSize, (num + 1) * blockSize);
      await file.write(block, 0, block.length, num * blockSize);
      await verifier.written(num * blockSize, block.length);
    }
    return { error: undefined, verified: verifier.verified };
  } catch (error) {
    return { error, verified: verifier.verified };
  } finally {
    await file.close();
  }
}

test('any single flipped bit of the image is caught at its chunk index, with the chunks before it verified and the blocks after that chunk never written', async () => {
  await check(fc.asyncProperty(image, async ({ seed, chunkSize, blockSize, size, flipAt, bit }) => {
    const signed = new SeededRandom(seed).bytes(size);
    const chunks = chunksOf(signed, chunkSize);
    const served = Buffer.from(signed);
    served[flipAt]! ^= 1 << bit;
    const blocks = Math.ceil(size / blockSize);
    const path = join(dir, `flip-${seed}`);
    const bad = Math.floor(flipAt / chunkSize);
    // In order: the write that completes the bad chunk throws; no later block is written.
    const written: number[] = [];
    const file = await open(path, 'w+');
    const verifier = new ChunkVerifier(file, { chunkSize, chunks, size }, 0);
    let caught: unknown;
    try {
      for (let num = 0; num < blocks && caught === undefined; num++) {
        const block = served.subarray(num * blockSize, (num + 1) * blockSize);
        await file.write(block, 0, block.length, num * blockSize);
        written.push(num);
        await verifier.written(num * blockSize, block.length).catch((error: unknown) => { caught = error; });
      }
    } finally {
      await file.close();
    }
    assert.instance(caught, ChunkMismatchError);
    assert.is((caught as ChunkMismatchError).chunk, bad);
    assert.is((caught as Error).message, `chunk ${bad}: sha256 mismatch`);
    assert.is(verifier.verified, bad * chunkSize, 'the chunks before it verified');
    assert.is(written.at(-1), Math.ceil(Math.min((bad + 1) * chunkSize, size) / blockSize) - 1, 'caught at the last block of its chunk');
    // The unflipped image passes whole.
    const clean = await feed(path, signed, chunks, chunkSize, blockSize, Array.from({ length: blocks }, (_, i) => i));
    assert.equal(clean, { error: undefined, verified: size });
  }), { numRuns: 60, interruptAfterTimeLimit: 20_000 });
});

test('blocks in any order are verified as their chunk fills; a flipped bit is still caught at its chunk', async () => {
  await check(fc.asyncProperty(image, fc.integer({ min: 1, max: 1_000_000 }), async ({ seed, chunkSize, size, flipAt, bit }, shuffleSeed) => {
    const blockSize = 1024;
    const signed = new SeededRandom(seed).bytes(size);
    const chunks = chunksOf(signed, chunkSize);
    const blocks = Math.ceil(size / blockSize);
    // Shuffled within windows of 8 blocks, as a burst would arrive.
    const random = new SeededRandom(shuffleSeed);
    const order = Array.from({ length: blocks }, (_, i) => i);
    for (let start = 0; start < blocks; start += 8) {
      for (let i = Math.min(start + 8, blocks) - 1; i > start; i--) {
        const j = start + Math.floor(random.float() * (i - start + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    const path = join(dir, `order-${seed}`);
    assert.equal(await feed(path, signed, chunks, chunkSize, blockSize, order), { error: undefined, verified: size });
    const served = Buffer.from(signed);
    served[flipAt]! ^= 1 << bit;
    const { error, verified } = await feed(path, served, chunks, chunkSize, blockSize, order);
    assert.instance(error, ChunkMismatchError);
    assert.is((error as ChunkMismatchError).chunk, Math.floor(flipAt / chunkSize));
    assert.is(verified, Math.floor(flipAt / chunkSize) * chunkSize);
  }), { numRuns: 40, interruptAfterTimeLimit: 20_000 });
});

test('after a restart the prefix on disk is hashed again: it counts up to the first bad or missing chunk', async () => {
  await check(fc.asyncProperty(image, fc.double({ min: 0, max: 1, noNaN: true }), async ({ seed, chunkSize, size, flipAt, bit }, keptFraction) => {
    const signed = new SeededRandom(seed).bytes(size);
    const chunks = chunksOf(signed, chunkSize);
    const kept = Math.floor(keptFraction * size);
    const onDisk = Buffer.from(signed.subarray(0, kept));
    const flipped = flipAt < kept;
    if (flipped) onDisk[flipAt]! ^= 1 << bit;
    const path = join(dir, `prefix-${seed}`);
    const file = await open(path, 'w+');
    try {
      await file.write(onDisk, 0, onDisk.length, 0);
      const verifier = new ChunkVerifier(file, { chunkSize, chunks, size }, 0);
      const whole = kept === size ? size : Math.floor(kept / chunkSize) * chunkSize;
      const expected = flipped ? Math.min(whole, Math.floor(flipAt / chunkSize) * chunkSize) : whole;
      assert.is(await verifier.verifyPrefix(kept), expected);
      assert.is(verifier.verified, expected);
    } finally {
      await file.close();
    }
  }), { numRuns: 40, interruptAfterTimeLimit: 20_000 });
});

test.run();
