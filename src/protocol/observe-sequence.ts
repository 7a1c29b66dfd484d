// Observe option values: registration (RFC 7641 §2), 24-bit notification sequence numbers
// (§4.4) and the client's freshness rule for reordered notifications (§3.4). Pure: the
// caller supplies the times notifications arrived.

import { CoapError } from './errors.js';

/** Observe in a GET or FETCH request (RFC 7641 §2). */
export const OBSERVE_REGISTER = 0;
export const OBSERVE_DEREGISTER = 1;

/** Sequence numbers are 24 bits and wrap (§4.4). */
export const OBSERVE_SEQUENCE_MODULUS = 2 ** 24;
const HALF_SEQUENCE_SPACE = 2 ** 23;
/** §3.4: after this long, a notification is fresh whatever its number. */
export const OBSERVE_FRESHNESS_MS = 128_000;

export class ObserveSequenceError extends CoapError {
  constructor(message: string) {
    super('COAP_ERR_OBSERVE_SEQUENCE', message);
  }
}

/**
 * Whether a notification with `observeSequence` received at `receivedAt` is newer than the
 * previous one, `previousSequence` received at `previousReceivedAt` (times in ms, from the
 * same clock), by the rule of §3.4. Numbers exactly 2^23 apart, and equal numbers, are
 * neither newer nor older: only the 128-second rule makes such a notification fresh.
 */
export function isNewer(
  previousSequence: number, previousReceivedAt: number, observeSequence: number, receivedAt: number,
): boolean {
  checkSequence(previousSequence);
  checkSequence(observeSequence);
  return (previousSequence < observeSequence && observeSequence - previousSequence < HALF_SEQUENCE_SPACE)
    || (previousSequence > observeSequence && previousSequence - observeSequence > HALF_SEQUENCE_SPACE)
    || receivedAt > previousReceivedAt + OBSERVE_FRESHNESS_MS;
}

/** The sequence number of a server's next notification. */
export function nextSequence(observeSequence: number): number {
  checkSequence(observeSequence);
  return (observeSequence + 1) % OBSERVE_SEQUENCE_MODULUS;
}

function checkSequence(observeSequence: number): void {
  if (!Number.isInteger(observeSequence) || observeSequence < 0 || observeSequence >= OBSERVE_SEQUENCE_MODULUS) {
    throw new ObserveSequenceError(`observe sequence number ${observeSequence} does not fit 24 bits`);
  }
}
