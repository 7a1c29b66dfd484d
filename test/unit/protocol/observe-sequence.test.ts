import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CoapError } from '../../../src/protocol/errors.js';
import {
  OBSERVE_DEREGISTER, OBSERVE_FRESHNESS_MS, OBSERVE_REGISTER, OBSERVE_SEQUENCE_MODULUS, ObserveSequenceError, isNewer, nextSequence,
} from '../../../src/protocol/observe-sequence.js';

const HALF = 2 ** 23;
const MAX = 2 ** 24 - 1;
const T = 1_000_000;

test('RFC 7641 §2: registration is Observe 0 and deregistration Observe 1', () => {
  assert.is(OBSERVE_REGISTER, 0);
  assert.is(OBSERVE_DEREGISTER, 1);
});

test('a larger sequence number less than 2^23 ahead is newer, and the smaller one is not', () => {
  assert.ok(isNewer(5, T, 6, T));
  assert.ok(isNewer(0, T, HALF - 1, T));
  assert.not.ok(isNewer(6, T, 5, T));
  assert.not.ok(isNewer(HALF - 1, T, 0, T));
});

test('an equal sequence number within 128 seconds is not newer', () => {
  assert.not.ok(isNewer(42, T, 42, T + 1000));
});

test('wrap-around: a small number just after 2^24 - 1 is newer, the old large one is not', () => {
  assert.ok(isNewer(MAX, T, 0, T));
  assert.ok(isNewer(MAX - 10, T, 5, T));
  assert.not.ok(isNewer(0, T, MAX, T));
  assert.not.ok(isNewer(5, T, MAX - 10, T));
});

test('sequence numbers exactly 2^23 apart are neither newer nor older', () => {
  assert.not.ok(isNewer(0, T, HALF, T));
  assert.not.ok(isNewer(HALF, T, 0, T));
  assert.not.ok(isNewer(10, T, HALF + 10, T));
  // One past the half-way point the comparison flips.
  assert.ok(isNewer(HALF + 1, T, 0, T));
  assert.not.ok(isNewer(0, T, HALF + 1, T));
});

test('§3.4: more than 128 seconds later any notification is fresh; exactly 128 seconds is not enough', () => {
  assert.is(OBSERVE_FRESHNESS_MS, 128_000);
  assert.ok(isNewer(6, T, 5, T + 128_001));
  assert.ok(isNewer(42, T, 42, T + 128_001));
  assert.not.ok(isNewer(6, T, 5, T + 128_000));
});

test('nextSequence counts up and wraps at 2^24', () => {
  assert.is(nextSequence(0), 1);
  assert.is(nextSequence(MAX - 1), MAX);
  assert.is(nextSequence(MAX), 0);
  assert.is(OBSERVE_SEQUENCE_MODULUS, 2 ** 24);
  assert.ok(isNewer(MAX, T, nextSequence(MAX), T));
});

test('sequence numbers outside 0..2^24-1 are refused with a typed error', () => {
  for (const bad of [-1, 2 ** 24, 1.5, Number.NaN]) {
    assert.throws(() => nextSequence(bad), (error: unknown) => error instanceof ObserveSequenceError && error instanceof CoapError
      && error.code === 'COAP_ERR_OBSERVE_SEQUENCE');
    assert.throws(() => isNewer(bad, T, 0, T), (error: unknown) => error instanceof ObserveSequenceError);
    assert.throws(() => isNewer(0, T, bad, T), (error: unknown) => error instanceof ObserveSequenceError);
  }
});

test.run();
