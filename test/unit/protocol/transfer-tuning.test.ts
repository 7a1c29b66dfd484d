// The adaptive transfer tuner (src/protocol/transfer-tuning.ts): slow start then additive
// growth on whole windows, halving on loss, the block size stepped down under sustained
// loss and back up when it clears, smoothed RTT and loss; fast-check properties that no
// sequence of samples leaves the bounds or makes a figure NaN, that a clean link grows
// the window to its bound and a lossy one shrinks it and the block size.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { AdaptiveTransferTuner, DEFAULT_TUNING } from '../../../src/protocol/transfer-tuning.js';

const whole = (tuner: AdaptiveTransferTuner, rttMs?: number): void => {
  const { window } = tuner.next();
  tuner.observe({ asked: window, received: window, elapsedMs: 50, ...(rttMs === undefined ? {} : { rttMs }) });
};
const lossy = (tuner: AdaptiveTransferTuner, fraction: number): void => {
  const { window } = tuner.next();
  tuner.observe({ asked: window, received: Math.floor(window * (1 - fraction)), elapsedMs: 500 });
};

test('starts at 8 blocks of 1024 bytes, no RTT and no loss yet', () => {
  const tuner = new AdaptiveTransferTuner();
  assert.equal(tuner.next(), { sizeExponent: 6, window: 8 });
  assert.equal(tuner.stats, { blockSize: 1024, window: 8, rttMs: undefined, loss: 0 });
});

test('whole windows double the window until the first loss, then add one; a loss halves it', () => {
  const tuner = new AdaptiveTransferTuner();
  whole(tuner);
  assert.is(tuner.next().window, 16);
  whole(tuner);
  assert.is(tuner.next().window, 32);
  tuner.observe({ asked: 32, received: 31, elapsedMs: 100 });
  assert.is(tuner.next().window, 16);
  whole(tuner);
  assert.is(tuner.next().window, 17, 'after a loss, growth is additive');
});

test('the window never leaves its bounds: 64 at most, 1 at least', () => {
  const tuner = new AdaptiveTransferTuner();
  for (let i = 0; i < 20; i++) whole(tuner);
  assert.is(tuner.next().window, 64);
  for (let i = 0; i < 20; i++) tuner.observe({ asked: tuner.next().window, received: 0, elapsedMs: 2000 });
  assert.is(tuner.next().window, 1);
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

test('sustained loss steps the block size down, one step per 4 windows; a clean link steps it back up', () => {
  const tuner = new AdaptiveTransferTuner();
  for (let i = 0; i < 3; i++) lossy(tuner, 0.5);
  assert.is(tuner.next().sizeExponent, 6, 'not before the settle windows');
  lossy(tuner, 0.5);
  assert.is(tuner.stats.blockSize, 512);
  for (let i = 0; i < 3; i++) lossy(tuner, 0.5);
  assert.is(tuner.stats.blockSize, 512, 'one step per settle period');
  lossy(tuner, 0.5);
  assert.is(tuner.stats.blockSize, 256);
  for (let i = 0; i < 40; i++) whole(tuner);
  assert.is(tuner.stats.blockSize, 1024);
  assert.ok(tuner.stats.loss < DEFAULT_TUNING.lowLoss);
});

test('the block size stays within its bounds under any loss', () => {
  const tuner = new AdaptiveTransferTuner({ minSizeExponent: 4 });
  for (let i = 0; i < 100; i++) tuner.observe({ asked: tuner.next().window, received: 0, elapsedMs: 2000 });
  assert.is(tuner.stats.blockSize, 256);
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

test('property: on a clean link the window grows to its bound and the block size to the largest', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }), (losses) => {
    const tuner = new AdaptiveTransferTuner();
    for (const fraction of losses) lossy(tuner, fraction);
    for (let i = 0; i < 200; i++) whole(tuner);
    return tuner.next().window === DEFAULT_TUNING.maxWindow && tuner.stats.blockSize === 1024;
  }), { numRuns: 100 });
});

test('property: on a link losing a third or more, the window and the block size shrink to their least', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: 1 / 3, max: 1, noNaN: true }), { minLength: 40, maxLength: 60 }), (losses) => {
    const tuner = new AdaptiveTransferTuner();
    for (const fraction of losses) {
      const { window } = tuner.next();
      // At least one block lost per window, whatever its size.
      tuner.observe({ asked: window, received: Math.min(window - 1, Math.floor(window * (1 - fraction))), elapsedMs: 500 });
    }
    return tuner.next().window === DEFAULT_TUNING.minWindow && tuner.next().sizeExponent === DEFAULT_TUNING.minSizeExponent;
  }), { numRuns: 100 });
});

test.run();
