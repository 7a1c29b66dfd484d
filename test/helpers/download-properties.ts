// What the block-wise download properties share (test/property/blockwise-observe and
// q-block2): the lossy link, the bodies, a sink that insists on in-order writes, and the
// stop-and-resume property, run for lock-step Block2 (RFC 7959) and Q-Block2 (RFC 9177).

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import * as assert from 'uvu/assert';
import { bufferBody } from '../../src/protocol/body.js';
import { memorySink, type BlockSink } from '../../src/protocol/block-client.js';
import { blockSize } from '../../src/protocol/block.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import type { QBlockDownload } from '../../src/protocol/transfer-tuner.js';
import { lossyWorld, settle } from './virtual-world.js';

export const LOSSY_FAULTS = { loss: 0.2, duplication: 0.1, reorder: 0.1 };
/** Virtual time a download may take through LOSSY_FAULTS. */
export const LIMIT_MS = 24 * 3600 * 1000;
export const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A seed, a block size and a body size of up to `maxBytes` and `maxBlocks` blocks. */
export const transferArbitrary = (maxBytes: number, maxBlocks: number) =>
  fc.record({ seed: fc.integer({ min: 1, max: 1_000_000 }), sizeExponent: fc.integer({ min: 0, max: 6 }), fraction: fc.double({ min: 0, max: 1, noNaN: true }) })
    .map(({ seed, sizeExponent, fraction }) => ({ seed, sizeExponent, size: Math.floor(fraction * Math.min(maxBytes, maxBlocks * blockSize(sizeExponent))) }));

/** A sink that fails the test on anything but in-order, contiguous writes. */
export function strictSink(start = 0): BlockSink & { body(): Buffer } {
  const inner = memorySink();
  let next = start;
  return {
    write: (chunk, offset) => {
      if (offset !== next) throw new Error(`write at ${offset}, expected ${next}`);
      next += chunk.length;
      inner.write(chunk, offset);
    },
    reset: () => { next = 0; inner.reset(); },
    body: () => inner.body(),
  };
}

/** A download stopped where `stopAt` (0..1) of the body falls, then resumed from what it
 * kept under the same ETag: the two parts have the whole body's sha256, and the resumed
 * one writes in order from its block boundary. */
export async function stopAndResume(
  { seed, sizeExponent, size }: { seed: number; sizeExponent: number; size: number }, stopAt: number, qblock?: QBlockDownload,
): Promise<void> {
  const body = new SeededRandom(seed + 2).bytes(Math.max(size, 2 * blockSize(sizeExponent)));
  const world = lossyWorld(seed, LOSSY_FAULTS);
  world.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('e') }) } });
  const stopOffset = Math.floor(stopAt * (body.length - 1));
  const controller = new AbortController();
  const first = memorySink();
  let kept = 0;
  const how = qblock === undefined ? {} : { qblock };
  const partial = world.client.download({
    peer: world.server.address(), path: '/image', sizeExponent, signal: controller.signal, ...how,
    sink: { write: (chunk, offset) => { if (offset + chunk.length <= stopOffset) { first.write(chunk, offset); kept = offset + chunk.length; } else controller.abort(); }, reset: () => first.reset() },
  });
  await settle(world.clock, partial.then(() => undefined, () => undefined), 'partial download', LIMIT_MS);
  const start = Math.floor(kept / blockSize(sizeExponent)) * blockSize(sizeExponent);
  const rest = strictSink(start);
  const resumed = await settle(world.clock, world.client.download({
    peer: world.server.address(), path: '/image', sizeExponent, startOffset: kept, etag: Buffer.from('e'), sink: rest, ...how,
  }), 'resumed download', LIMIT_MS);
  assert.is(resumed.size, body.length);
  assert.is(sha(Buffer.concat([first.body().subarray(0, start), rest.body()])), sha(body));
  await world.close();
}
