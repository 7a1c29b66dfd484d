// The adaptive transfer tuner (src/protocol/transfer-tuning.ts): slow start, then one block
// more per window, a cut in proportion to the blocks lost only when a window loses more than
// the link usually does, a window with nothing in it (its request lost) no cut; the block size probed
// down under sustained loss (kept only where smaller blocks lose clearly less) and back up;
// smoothed RTT and loss. Fast-check properties on a simulated link (seeded): no sequence of
// samples leaves the bounds or makes a figure NaN; a clean link grows the window to its
// bound at the largest size; a link losing at random keeps a large window and the largest
// block size; a link losing only large datagrams (fragmentation) settles below them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { AdaptiveTransferTuner, DEFAULT_TUNING, probeVerdict } from '../../../src/protocol/transfer-tuning.js';

const whole = (tuner: AdaptiveTransferTuner, rttMs?: number): void => {
  const { window } = tuner.next();
  tuner.observe({ asked: window, received: window, elapsedMs: 50, ...(rttMs === undefined ? {} : { rttMs }) });
};

test('starts at 8 blocks of 1024 bytes, no RTT and no loss yet', () => {
  const tuner = new AdaptiveTransferTuner();
  assert.equal(tuner.next(), { sizeExponent: 6, window: 8 });
  assert.equal(tuner.stats, { blockSize: 1024, window: 8, rttMs: undefined, loss: 0 });
});

/** Runs `windows` windows over a link that loses each block with `lossOf(blockSize)`,
 * independently (seeded); returns the block size of each window (and puts each window's
 * size in blocks in `windowsSeen`). */
function simulate(tuner: AdaptiveTransferTuner, windows: number, lossOf: (blockSize: number) => number, seed: number, windowsSeen: number[] = []): number[] {
  const random = new SeededRandom(seed);
  const sizes: number[] = [];
  for (let i = 0; i < windows; i++) {
    const { window, sizeExponent } = tuner.next();
    const size = 2 ** (sizeExponent + 4);
    let received = 0;
    for (let block = 0; block < window; block++) if (random.float() >= lossOf(size)) received++;
    tuner.observe({ asked: window, received, elapsedMs: 100 });
    sizes.push(size);
    windowsSeen.push(window);
  }
  return sizes;
}
const share = (sizes: readonly number[], accept: (size: number) => boolean): number => sizes.filter(accept).length / sizes.length;

test('whole windows double the window until the first loss, then add one; a loss above the usual cuts it in proportion; a window with nothing in it does not', () => {
  const tuner = new AdaptiveTransferTuner();
  whole(tuner);
  assert.is(tuner.next().window, 16);
  whole(tuner);
  assert.is(tuner.next().window, 32);
  // 1 of 32 lost (3 %) on a link that lost nothing so far is within the noise: one more.
  tuner.observe({ asked: 32, received: 31, elapsedMs: 100 });
  assert.is(tuner.next().window, 33);
  whole(tuner);
  assert.is(tuner.next().window, 34, 'after the first loss, growth is additive');
  const loss = tuner.stats.loss;
  tuner.observe({ asked: 34, received: 0, elapsedMs: 2000 });
  assert.equal([tuner.next().window, tuner.stats.loss], [34, loss], 'its request lost: neither the window nor the loss moves');
  tuner.observe({ asked: 34, received: 17, elapsedMs: 500 });
  assert.is(tuner.next().window, 26, '50 % lost, far above the usual: 34 + 0.5 - 0.5 x 34 / 2');
});

test('the window never leaves its bounds: 64 at most, the configured least at least', () => {
  const tuner = new AdaptiveTransferTuner({ minWindow: 4 });
  for (let i = 0; i < 20; i++) whole(tuner);
  assert.is(tuner.next().window, 64);
  // Each window loses all but one block after a clean one: far above the usual every time.
  for (let i = 0; i < 20; i++) {
    tuner.observe({ asked: 1, received: 1, elapsedMs: 50 });
    tuner.observe({ asked: tuner.next().window, received: 1, elapsedMs: 2000 });
  }
  assert.is(tuner.next().window, 4);
});

test('RTT is smoothed with RFC 6298\'s 1/8, the first sample taken as it is; bad samples are ignored', () => {
  const tuner = new AdaptiveTransferTuner();
  whole(tuner, 80);
  assert.is(tuner.stats.rttMs, 80);
  whole(tuner, 160);
  assert.is(tuner.stats.rttMs, 80 + (160 - 80) / 8);
  for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) whole(tuner, bad);
  assert.is(tuner.stats.rttMs, 90);
});

test('loss is the smoothed fraction of asked blocks that did not come (gain 1/4)', () => {
  const tuner = new AdaptiveTransferTuner();
  tuner.observe({ asked: 8, received: 4, elapsedMs: 100 });
  assert.is(tuner.stats.loss, 0.125);
  tuner.observe({ asked: 4, received: 4, elapsedMs: 100 });
  assert.is(tuner.stats.loss, 0.125 * 0.75);
});

test('a link that loses large datagrams: the smallest size is tried, then the size climbs back to the largest that gets through, trying larger ones less and less often', () => {
  const tuner = new AdaptiveTransferTuner();
  const lossOf = (size: number): number => (size > 256 ? 0.6 : 0);
  const first = simulate(tuner, 40, lossOf, 1);
  assert.ok(first.indexOf(64) >= 4, 'not before 4 windows and 32 blocks at 1024');
  assert.is(first[first.indexOf(64) - 1], 1024, 'from 1024 straight to the smallest size');
  const sizes = simulate(tuner, 300, lossOf, 2);
  assert.ok(share(sizes, (size) => size === 256) > 0.75, `at 256 bytes: ${share(sizes, (size) => size === 256)}`);
  assert.ok(share(sizes.slice(-150), (size) => size === 256) > 0.9, `then at 256 bytes: ${share(sizes.slice(-150), (size) => size === 256)}`);
  assert.ok(sizes.slice(-150).every((size) => size <= 512), 'probes of 1024 given up on');
  assert.ok(share(sizes.slice(-150), (size) => size === 512) < 0.1, 'probes of 512 rarer and rarer');
});

test('a probe\'s verdict: a smaller size kept on a full count that loses clearly less, given up early when it cannot; a larger one given up early when it loses clearly more', () => {
  const verdict = (direction: 'down' | 'up', here: [number, number], left: [number, number]): string =>
    probeVerdict(direction, { asked: here[0], lost: here[1] }, { asked: left[0], lost: left[1] }, 0.2, 64);
  assert.is(verdict('down', [15, 0], [64, 40]), 'wait', 'fewer than 16 blocks decide nothing');
  assert.is(verdict('down', [32, 0], [64, 40]), 'wait', 'kept only on the full count');
  assert.is(verdict('down', [64, 0], [64, 40]), 'keep');
  assert.is(verdict('down', [16, 9], [64, 30]), 'revert', 'as lossy as the size left: given up at once');
  assert.is(verdict('down', [64, 15], [400, 120]), 'revert', '23 % against 30 %: not half');
  assert.is(verdict('down', [64, 11], [70, 26]), 'revert', 'less than half, but within the noise');
  assert.is(verdict('up', [16, 10], [200, 2]), 'revert');
  assert.is(verdict('up', [16, 0], [200, 0]), 'keep');
  assert.is(verdict('up', [16, 6], [33, 14]), 'keep', 'no worse than the size left');
  assert.is(verdict('up', [16, 4], [200, 40]), 'wait', '25 % against 20 %: within double, but not surely yet');
  assert.is(verdict('up', [64, 16], [200, 40]), 'keep', 'on the full count');
});

test('a link that loses at random: smaller blocks do not help, so the block size stays the largest', () => {
  const tuner = new AdaptiveTransferTuner();
  const sizes = simulate(tuner, 300, () => 0.3, 3);
  // Probes of the smallest size, each given up after 64 blocks, less and less often.
  assert.ok(share(sizes, (size) => size === 1024) > 0.75, `at 1024 bytes: ${share(sizes, (size) => size === 1024)}`);
  assert.ok(share(sizes.slice(-100), (size) => size === 1024) >= 0.8, `later at 1024 bytes: ${share(sizes.slice(-100), (size) => size === 1024)}`);
  assert.ok(tuner.stats.loss > 0.2 && tuner.stats.loss < 0.4, `loss ${tuner.stats.loss}`);
  assert.ok(tuner.next().window >= 32, `window ${tuner.next().window}: steady random loss is not a queue overflowing`);
});

test('the block size stays within its bounds: a probe goes no lower than the smallest allowed, and comes back when that does not help', () => {
  const bounded = new AdaptiveTransferTuner({ minSizeExponent: 4 });
  const tried = simulate(bounded, 200, (size) => (size > 64 ? 0.7 : 0), 4);
  assert.is(Math.min(...tried), 256, 'the probe went down to the bound');
  assert.ok(share(tried, (size) => size === 1024) > 0.7, `and back, since 256 bytes did not help: ${share(tried, (size) => size === 1024)}`);
});

test('a new tuner starts from the last download\'s figures, within its own bounds', () => {
  const tuner = new AdaptiveTransferTuner({}, { blockSize: 256, window: 100, rttMs: 120, loss: 0.3 });
  assert.equal(tuner.stats, { blockSize: 256, window: 64, rttMs: 120, loss: 0.3 });
  whole(tuner);
  assert.is(tuner.next().window, 64, 'a link known to lose starts without slow start (64 is the bound)');
  const again = new AdaptiveTransferTuner({}, { blockSize: 256, window: 10, rttMs: undefined, loss: 0.3 });
  whole(again);
  assert.is(again.next().window, 11);
  const odd = new AdaptiveTransferTuner({}, { blockSize: 1000, window: Number.NaN, rttMs: -5, loss: Number.NaN });
  assert.equal(odd.stats, { blockSize: 1024, window: 8, rttMs: undefined, loss: 0 });
});

test('options out of order are refused', () => {
  assert.throws(() => new AdaptiveTransferTuner({ minWindow: 0 }), /windows/);
  assert.throws(() => new AdaptiveTransferTuner({ initialWindow: 100 }), /windows/);
  assert.throws(() => new AdaptiveTransferTuner({ maxSizeExponent: 7 }), /size exponents/);
  assert.throws(() => new AdaptiveTransferTuner({ lowLoss: 0.5, highLoss: 0.2 }), /loss/);
});

const anyNumber = fc.oneof(fc.double(), fc.integer({ min: -10, max: 200 }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0));
const sample = fc.record({ asked: anyNumber, received: anyNumber, elapsedMs: anyNumber, rttMs: fc.option(anyNumber, { nil: undefined }) });
const bounds = fc.record({
  minSizeExponent: fc.integer({ min: 0, max: 6 }), sizeSpan: fc.integer({ min: 0, max: 6 }),
  minWindow: fc.integer({ min: 1, max: 32 }), windowSpan: fc.integer({ min: 0, max: 64 }),
}).map(({ minSizeExponent, sizeSpan, minWindow, windowSpan }) => {
  const maxSizeExponent = Math.min(6, minSizeExponent + sizeSpan);
  return { minSizeExponent, maxSizeExponent, initialSizeExponent: maxSizeExponent, minWindow, maxWindow: minWindow + windowSpan, initialWindow: minWindow };
});

test('property: any sequence of samples keeps every figure finite and in bounds', () => {
  fc.assert(fc.property(bounds, fc.array(sample, { maxLength: 200 }), (options, samples) => {
    const tuner = new AdaptiveTransferTuner(options);
    for (const next of samples) {
      tuner.observe(next);
      const { sizeExponent, window } = tuner.next();
      const { blockSize, rttMs, loss } = tuner.stats;
      if (!(Number.isInteger(window) && window >= options.minWindow && window <= options.maxWindow)) return false;
      if (!(Number.isInteger(sizeExponent) && sizeExponent >= options.minSizeExponent && sizeExponent <= options.maxSizeExponent)) return false;
      if (blockSize !== 2 ** (sizeExponent + 4)) return false;
      if (rttMs !== undefined && !(Number.isFinite(rttMs) && rttMs >= 0)) return false;
      if (!(loss >= 0 && loss <= 1)) return false;
    }
    return true;
  }), { numRuns: 300 });
});

test('property: after any start, a clean link grows the window to its bound at the largest block size', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }), fc.integer(), (losses, seed) => {
    const tuner = new AdaptiveTransferTuner();
    let round = 0;
    simulate(tuner, losses.length, () => losses[round++]!, seed);
    simulate(tuner, 400, () => 0, seed);
    return tuner.next().window === DEFAULT_TUNING.maxWindow && tuner.stats.blockSize === 1024;
  }), { numRuns: 100 });
});

test('property: a link losing at random (5..90 %) keeps a window above its start and, once its probes have backed off, the largest block size', () => {
  fc.assert(fc.property(fc.double({ min: 0.05, max: 0.9, noNaN: true }), fc.integer(), (loss, seed) => {
    const tuner = new AdaptiveTransferTuner();
    const windows: number[] = [];
    const late = simulate(tuner, 600, () => loss, seed, windows).slice(300);
    const lateWindows = windows.slice(300);
    return lateWindows.reduce((sum, window) => sum + window, 0) / lateWindows.length > DEFAULT_TUNING.initialWindow
      // Mostly: a run of luck at a smaller size (about one probe in 10,000) is undone
      // by the steps up, which take a while.
      && share(late, (size) => size === 1024) > 0.5;
  }), { numRuns: 100 });
});

test('property: a link losing most datagrams above some size (60..100 %, well past the 40 % where smaller blocks are tried) settles below it', () => {
  fc.assert(fc.property(fc.integer({ min: 2, max: 5 }), fc.double({ min: 0.6, max: 1, noNaN: true }), fc.integer(), (limitExponent, loss, seed) => {
    const limit = 2 ** (limitExponent + 4);
    const tuner = new AdaptiveTransferTuner();
    const sizes = simulate(tuner, 400, (size) => (size > limit ? loss : 0), seed);
    return share(sizes.slice(200), (size) => size <= limit) > 0.9;
  }), { numRuns: 100 });
});

test.run();
