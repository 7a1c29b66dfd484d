// CoCoA's RTO estimator as pure functions (draft-ietf-core-cocoa): the strong and weak
// updates, which answers give which sample, the variable backoff factor, the bounds and
// aging, with fast-check properties that no sequence of samples leaves the bounds or NaN.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { addSample, aged, backoffFactor, initialEstimate, sampleKind, type LinkEstimate } from '../../../src/protocol/rto-estimator.js';

const BOUNDS = { initialRtoMs: 2000, minRtoMs: 100, maxRtoMs: 12_000 };

test('a new peer starts at ACK_TIMEOUT (2 s), with no estimator yet', () => {
  assert.equal(initialEstimate(BOUNDS, 5), { rto: 2000, strong: undefined, weak: undefined, updatedAt: 5 });
});

test('first strong sample: RFC 6298 SRTT = R, RTTVAR = R/2, E = SRTT + 4 RTTVAR, RTO = E/2 + RTO/2', () => {
  const estimate = addSample(initialEstimate(BOUNDS, 0), 'strong', 200, 10, BOUNDS);
  assert.equal(estimate.strong, { srtt: 200, rttvar: 100, samples: 1 });
  assert.is(estimate.rto, 0.5 * (200 + 4 * 100) + 0.5 * 2000);
  assert.is(estimate.updatedAt, 10);
  const second = addSample(estimate, 'strong', 100, 20, BOUNDS);
  // RTTVAR = 3/4 100 + 1/4 |200 - 100|, SRTT = 7/8 200 + 1/8 100.
  assert.equal(second.strong, { srtt: 187.5, rttvar: 100, samples: 2 });
  assert.is(second.rto, 0.5 * (187.5 + 400) + 0.5 * estimate.rto);
});

test('a weak sample has K = 1 and moves the overall RTO by a quarter; it leaves the strong estimator alone', () => {
  const estimate = addSample(initialEstimate(BOUNDS, 0), 'weak', 3000, 10, BOUNDS);
  assert.equal(estimate.weak, { srtt: 3000, rttvar: 1500, samples: 1 });
  assert.is(estimate.strong, undefined);
  assert.is(estimate.rto, 0.25 * (3000 + 1500) + 0.75 * 2000);
});

test('answered at once: strong; after one or two retransmissions: weak; after more: no sample (Karn)', () => {
  assert.equal([0, 1, 2, 3, 4].map(sampleKind), ['strong', 'weak', 'weak', undefined, undefined]);
});

test('the backoff factor is 3 below 1 s, 2 from 1 to 3 s, 1.5 above 3 s', () => {
  assert.equal([100, 999, 1000, 2000, 3000, 3001, 12_000].map(backoffFactor), [3, 3, 2, 2, 2, 1.5, 1.5]);
});

test('a fast link converges near its RTT and never below the lower bound', () => {
  let estimate = initialEstimate(BOUNDS, 0);
  for (let i = 0; i < 50; i++) estimate = addSample(estimate, 'strong', 40, i, BOUNDS);
  assert.is(estimate.rto, 100, 'a 40 ms link sits at the 100 ms floor');
  estimate = initialEstimate(BOUNDS, 0);
  for (let i = 0; i < 50; i++) estimate = addSample(estimate, 'strong', 500, i, BOUNDS);
  assert.ok(Math.abs(estimate.rto - 500) < 5, `a steady 500 ms link: RTO ${estimate.rto}`);
});

test('aging: below 1 s, each 16 x RTO unused doubles it; above 3 s, each 4 x RTO brings it to 1 s + RTO/2; 1..3 s stays', () => {
  const small: LinkEstimate = { rto: 200, strong: undefined, weak: undefined, updatedAt: 0 };
  assert.is(aged(small, 3200, BOUNDS), small, 'not yet: exactly 16 x RTO');
  assert.is(aged(small, 3201, BOUNDS).rto, 400);
  // 200 -> 400 after 3.2 s, -> 800 after 6.4 s more, -> 1600 after 12.8 s more; then it stays.
  assert.is(aged(small, 3200 + 6400 + 12_800 + 1, BOUNDS).rto, 1600);
  assert.is(aged(small, 1e9, BOUNDS).rto, 1600);
  const large: LinkEstimate = { rto: 10_000, strong: undefined, weak: undefined, updatedAt: 0 };
  assert.is(aged(large, 40_001, BOUNDS).rto, 6000);
  assert.is(aged(large, 40_000 + 24_000 + 1, BOUNDS).rto, 4000);
  assert.is(aged(large, 1e9, BOUNDS).rto, 3000, 'then it stays: 3 s is not above 3 s');
  const middle: LinkEstimate = { rto: 2500, strong: undefined, weak: undefined, updatedAt: 0 };
  assert.is(aged(middle, 1e9, BOUNDS), middle);
});

const sample = fc.record({
  kind: fc.constantFrom('strong' as const, 'weak' as const),
  rtt: fc.oneof(fc.double({ min: -1e9, max: 1e12 }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0)),
  gap: fc.oneof(fc.double({ min: 0, max: 1e7, noNaN: true }), fc.constant(Number.NaN)),
});
const bounds = fc.tuple(fc.double({ min: 1, max: 5000, noNaN: true }), fc.double({ min: 1, max: 100_000, noNaN: true }), fc.double({ min: 1, max: 60_000, noNaN: true }))
  .map(([a, b, initialRtoMs]) => ({ minRtoMs: Math.min(a, b), maxRtoMs: Math.max(a, b), initialRtoMs }));

test('property: whatever the samples and the time between them, the RTO stays within [min, max] and is never NaN', () => {
  fc.assert(fc.property(bounds, fc.array(sample, { maxLength: 60 }), (limits, samples) => {
    let now = 0;
    let estimate = initialEstimate(limits, now);
    const within = (rto: number): boolean => !Number.isNaN(rto) && rto >= limits.minRtoMs && rto <= limits.maxRtoMs;
    if (!within(estimate.rto)) return false;
    for (const { kind, rtt, gap } of samples) {
      now += gap;
      estimate = aged(estimate, now, limits);
      if (!within(estimate.rto)) return false;
      estimate = addSample(estimate, kind, rtt, now, limits);
      if (!within(estimate.rto) || ![1.5, 2, 3].includes(backoffFactor(estimate.rto))) return false;
      for (const estimator of [estimate.strong, estimate.weak]) {
        if (estimator !== undefined && (Number.isNaN(estimator.srtt) || Number.isNaN(estimator.rttvar))) return false;
      }
    }
    return true;
  }), { numRuns: 2000 });
});

test('property: steady samples of one RTT bring the RTO within 10 % of it (or to a bound)', () => {
  fc.assert(fc.property(fc.double({ min: 1, max: 20_000, noNaN: true }), (rtt) => {
    let estimate = initialEstimate(BOUNDS, 0);
    for (let i = 0; i < 80; i++) estimate = addSample(estimate, 'strong', rtt, i, BOUNDS);
    const expected = Math.min(BOUNDS.maxRtoMs, Math.max(BOUNDS.minRtoMs, rtt));
    return Math.abs(estimate.rto - expected) <= 0.1 * expected;
  }), { numRuns: 500 });
});

test.run();
