import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { bufferBody } from '../../src/protocol/body.js';
import { memorySink, type BlockSink } from '../../src/protocol/block-client.js';
import { blockSize } from '../../src/protocol/block.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import type { TransferTuner } from '../../src/protocol/transfer-tuner.js';
import { MemoryNetwork } from '../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../src/protocol/virtual-clock.js';
import { lossyWorld, settle, until } from '../helpers/virtual-world.js';
import { check } from '../helpers/check.js';

const FAULTS = { loss: 0.2, duplication: 0.1, reorder: 0.1 };
const LIMIT_MS = 24 * 3600 * 1000;
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const transfer = fc.record({ seed: fc.integer({ min: 1, max: 1_000_000 }), sizeExponent: fc.integer({ min: 0, max: 6 }), fraction: fc.double({ min: 0, max: 1, noNaN: true }) })
  .map(({ seed, sizeExponent, fraction }) => ({ seed, sizeExponent, size: Math.floor(fraction * Math.min(1024 * 1024, 1500 * blockSize(sizeExponent))) }));

/** A sink that fails the test on anything but in-order, contiguous writes. */
function strictSink(start = 0): BlockSink & { body(): Buffer } {
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

/** A tuner that picks a random block size and window for every request. */
function randomTuner(seed: number): TransferTuner {
  const random = new SeededRandom(seed);
  return {
    next: () => ({ sizeExponent: Math.floor(random.float() * 7), window: 1 + Math.floor(random.float() * 64) }),
    observe: () => {},
    stats: { blockSize: 1024, window: 10, rttMs: undefined, loss: 0 },
  };
}

test('Q-Block2 downloads over a lossy, duplicating, reordering link are byte-identical, written in order', async () => {
  await check(fc.asyncProperty(transfer, fc.boolean(), async ({ seed, sizeExponent, size }, tuned) => {
    const body = new SeededRandom(seed).bytes(size);
    const world = lossyWorld(seed, FAULTS);
    world.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
    const sink = strictSink();
    const qblock = tuned ? { tuner: randomTuner(seed) } : {};
    const result = await settle(world.clock, world.client.download({ peer: world.server.address(), path: '/image', sink, sizeExponent, qblock }), 'download', LIMIT_MS);
    assert.is(result.size, size);
    assert.is(sha(sink.body()), sha(body));
    await world.close();
  }), { numRuns: 12, interruptAfterTimeLimit: 20_000 });
});

test('a Q-Block2 download stopped anywhere and resumed from its offset has the sha256 of a clean one', async () => {
  await check(fc.asyncProperty(transfer, fc.double({ min: 0, max: 1, noNaN: true }), async ({ seed, sizeExponent, size }, stopAt) => {
    const body = new SeededRandom(seed + 2).bytes(Math.max(size, 2 * blockSize(sizeExponent)));
    const world = lossyWorld(seed, FAULTS);
    world.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('e') }) } });
    const stopOffset = Math.floor(stopAt * (body.length - 1));
    const controller = new AbortController();
    const first = memorySink();
    let kept = 0;
    const partial = world.client.download({
      peer: world.server.address(), path: '/image', sizeExponent, signal: controller.signal, qblock: {},
      sink: { write: (chunk, offset) => { if (offset + chunk.length <= stopOffset) { first.write(chunk, offset); kept = offset + chunk.length; } else controller.abort(); }, reset: () => first.reset() },
    });
    await settle(world.clock, partial.then(() => undefined, () => undefined), 'partial download', LIMIT_MS);
    const start = Math.floor(kept / blockSize(sizeExponent)) * blockSize(sizeExponent);
    const rest = strictSink(start);
    const resumed = await settle(world.clock, world.client.download({
      peer: world.server.address(), path: '/image', sizeExponent, startOffset: kept, etag: Buffer.from('e'), sink: rest, qblock: {},
    }), 'resumed download', LIMIT_MS);
    assert.is(resumed.size, body.length);
    assert.is(sha(Buffer.concat([first.body().subarray(0, start), rest.body()])), sha(body));
    await world.close();
  }), { numRuns: 10, interruptAfterTimeLimit: 20_000 });
});

test('the server keeps at most its bounds of Q-Block2 transfers, per peer and in total, and forgets them when idle', async () => {
  const scenario = fc.record({
    peers: fc.integer({ min: 1, max: 12 }),
    paths: fc.integer({ min: 1, max: 6 }),
    perPeer: fc.integer({ min: 1, max: 4 }),
    total: fc.integer({ min: 1, max: 20 }),
    bytes: fc.integer({ min: 4096, max: 64 * 1024 }),
  });
  await check(fc.asyncProperty(scenario, async ({ peers, paths, perPeer, total, bytes }) => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock, 1);
    const limits = { transfers: total, transfersPerPeer: perPeer, bytes, idleMs: 10_000 };
    const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(1), qblock2: limits });
    const payload = new SeededRandom(3).bytes(3000);
    server.router.add('/r/{n}', { handlers: { GET: () => ({ code: ResponseCode.Content, payload }) } });
    const clients = Array.from({ length: peers }, (_, index) => new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(10 + index) }));
    const downloads: Promise<unknown>[] = [];
    let maxSeen = { transfers: 0, bytesHeld: 0 };
    for (const client of clients) {
      for (let path = 0; path < paths; path++) {
        downloads.push(client.download({ peer: server.address(), path: `/r/${path}`, sink: memorySink(), qblock: {} }));
      }
    }
    let done = 0;
    for (const download of downloads) void download.then(() => { done++; }, () => { done++; });
    await until(clock, 'downloads', () => {
      const stats = server.qblock2Stats();
      assert.ok(stats.transfers <= total, `${stats.transfers} transfers, bound ${total}`);
      assert.ok(stats.bytesHeld <= bytes, `${stats.bytesHeld} bytes held, bound ${bytes}`);
      assert.ok(stats.transfers <= stats.peers * perPeer, `${stats.transfers} transfers for ${stats.peers} peers, ${perPeer} each`);
      maxSeen = { transfers: Math.max(maxSeen.transfers, stats.transfers), bytesHeld: Math.max(maxSeen.bytesHeld, stats.bytesHeld) };
      return done === downloads.length;
    }, LIMIT_MS);
    assert.ok(maxSeen.transfers > 0);
    await until(clock, 'idle transfers forgotten', () => server.qblock2Stats().transfers === 0, 60_000);
    await Promise.all([server.close(), ...clients.map((client) => client.close())]);
  }), { numRuns: 15, interruptAfterTimeLimit: 20_000 });
});

test.run();
