import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { bufferBody } from '../../src/protocol/body.js';
import { memorySink } from '../../src/protocol/block-client.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import type { TransferTuner } from '../../src/protocol/transfer-tuner.js';
import { MemoryNetwork } from '../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../src/protocol/virtual-clock.js';
import { lossyWorld, settle, until } from '../helpers/virtual-world.js';
import { check } from '../helpers/check.js';
import { LIMIT_MS, LOSSY_FAULTS, sha, stopAndResume, strictSink, transferArbitrary } from '../helpers/download-properties.js';

const FAULTS = LOSSY_FAULTS;
const transfer = transferArbitrary(1024 * 1024, 1500);

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
  await check(fc.asyncProperty(transfer, fc.double({ min: 0, max: 1, noNaN: true }), (plan, stopAt) => stopAndResume(plan, stopAt, {})), { numRuns: 10, interruptAfterTimeLimit: 20_000 });
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
