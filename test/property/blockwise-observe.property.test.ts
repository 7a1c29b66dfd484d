import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ResponseCode } from '../../src/protocol/codes.js';
import { bufferBody } from '../../src/protocol/body.js';
import { memorySink } from '../../src/protocol/block-client.js';
import { getOption, getUintOption, OptionNumber } from '../../src/protocol/options.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import { drive, lossyWorld } from '../helpers/virtual-world.js';
import { check } from '../helpers/check.js';
import { blockSize } from '../../src/protocol/block.js';
import { RetransmitTimeoutError } from '../../src/protocol/errors.js';
import { LIMIT_MS, LOSSY_FAULTS, sha, stopAndResume, transferArbitrary } from '../helpers/download-properties.js';

const FAULTS = LOSSY_FAULTS;
// Up to 4 MiB, but never more than ~2,000 blocks, so a run stays within seconds.
const transfer = transferArbitrary(4 * 1024 * 1024, 2000);

async function settle<T>(clock: Parameters<typeof drive>[0], promise: Promise<T>): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then((value) => { outcome = { ok: true, value }; }, (error: unknown) => { outcome = { ok: false, error }; });
  await drive(clock, () => outcome !== undefined, LIMIT_MS);
  if (outcome === undefined) throw new Error('did not settle');
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

test('random bodies with random block sizes download byte-identical over a lossy, duplicating, reordering link', async () => {
  await check(fc.asyncProperty(transfer, async ({ seed, sizeExponent, size }) => {
    const body = new SeededRandom(seed).bytes(size);
    const world = lossyWorld(seed, FAULTS);
    world.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
    const sink = memorySink();
    const result = await settle(world.clock, world.client.download({ peer: world.server.address(), path: '/image', sink, sizeExponent }));
    assert.is(result.size, size);
    assert.is(sha(sink.body()), sha(body));
    await world.close();
  }), { numRuns: 8, interruptAfterTimeLimit: 15_000 });
});

test('random bodies with random block sizes upload byte-identical over the lossy link', async () => {
  await check(fc.asyncProperty(transfer, async ({ seed, sizeExponent, size }) => {
    const body = new SeededRandom(seed + 1).bytes(size);
    const world = lossyWorld(seed, FAULTS, { server: { maxRequestBodySize: 4 * 1024 * 1024 } });
    let received: Buffer | undefined;
    let calls = 0;
    world.server.router.add('/upload', { handlers: { PUT: (request) => { calls++; received = request.payload; return { code: ResponseCode.Changed }; } } });
    let response;
    try {
      response = await settle(world.clock, world.client.upload({ peer: world.server.address(), path: '/upload', source: bufferBody(body), sizeExponent }));
    } catch (error) {
      await world.close();
      // A body in one block is one CON exchange, never repeated (it would run the handler
      // again): at 20 % loss each way all of RFC 7252's 5 transmissions fail 0.6 % of the
      // time (seeds that do came up about once in 20 runs). Every other body must arrive.
      if (size <= blockSize(sizeExponent) && error instanceof RetransmitTimeoutError) return;
      throw error;
    }
    assert.is(response.code, ResponseCode.Changed);
    assert.is(calls, 1, 'the handler ran once for the whole body');
    assert.is(sha(received!), sha(body));
    await world.close();
  }), { numRuns: 8, interruptAfterTimeLimit: 15_000 });
});

test('a download stopped at a random block and resumed has the sha256 of a clean one', async () => {
  await check(fc.asyncProperty(transfer, fc.double({ min: 0, max: 1, noNaN: true }), (plan, stopAt) => stopAndResume(plan, stopAt)), { numRuns: 8, interruptAfterTimeLimit: 15_000 });
});

test('an observer over the lossy link sees notifications in order and never a stale one', async () => {
  await check(fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 5, max: 60 }), async (seed, changes) => {
    const world = lossyWorld(seed, FAULTS, { server: { observeLimits: { confirmableEvery: 4 } } });
    let state = 0;
    world.server.router.add('/state', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(state), maxAge: 30 }) } });
    const { observation, first } = await settle(world.clock, world.client.observe({ peer: world.server.address(), path: '/state' }));
    assert.is(first.payload.toString(), '0');
    const seen: number[] = [];
    const sequences: number[] = [];
    const reading = (async () => {
      for await (const notification of observation) {
        seen.push(Number(notification.payload.toString()));
        sequences.push(getUintOption(notification.options, OptionNumber.Observe)!);
      }
    })();
    for (let i = 1; i <= changes; i++) {
      state = i;
      world.server.notify('/state');
      await drive(world.clock, () => false, 50 + (i % 7) * 30);
    }
    await drive(world.clock, () => false, 200_000);
    observation.forget();
    await settle(world.clock, reading);
    for (let i = 1; i < seen.length; i++) {
      // A re-registration may bring the same state again, never an older one.
      assert.ok(seen[i]! >= seen[i - 1]!, `state ${seen[i]} after ${seen[i - 1]}: out of order or stale`);
      assert.ok(sequences[i]! > sequences[i - 1]!, 'Observe numbers increase');
    }
    // The newest state always arrives: by a later notification or, if the last one was
    // lost, by the re-registration after Max-Age (RFC 7641 §3.3.1).
    assert.is(seen.at(-1), changes, `last state seen ${seen.at(-1)} of ${changes}`);
    assert.ok(getOption(first.options, OptionNumber.Observe) !== undefined);
    await world.close();
  }), { numRuns: 15, interruptAfterTimeLimit: 15_000 });
});

test.run();
