// Delays between attempts. After a failure (no answer, a lost exchange): a short fixed
// ladder. For attempts a peer keeps refusing: growing, capped and jittered, so that
// many agents turned away at once (a fleet past the gateway's bound of observers) do not
// come back in step. "Full jitter" (M. Brooker, "Exponential Backoff And Jitter", AWS
// Architecture Blog, 2015) above a floor: the n-th delay is drawn uniformly between the
// base and min(cap, base · 2^n). The ceiling depends on the count alone, so the delays
// never fall back to short ones while refusals go on. The randomness comes in, so tests
// are deterministic.

import type { Random } from '../protocol/interfaces.js';

const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000] as const;

/** The wait after `failures` failures in a row (0: the first). */
export const retryDelay = (failures: number): number => RETRY_MS[Math.min(failures, RETRY_MS.length - 1)]!;

export class JitteredBackoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: Random;
  #attempts = 0;

  constructor(baseMs: number, capMs: number, random: Random) {
    this.#baseMs = baseMs;
    this.#capMs = capMs;
    this.#random = random;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The next delay, in [base, cap] milliseconds. */
  next(): number {
    const ceiling = Math.min(this.#capMs, this.#baseMs * 2 ** this.#attempts);
    this.#attempts++;
    return Math.round(this.#baseMs + this.#random.float() * (ceiling - this.#baseMs));
  }

  /** After a success: the next delay is short again. */
  reset(): void {
    this.#attempts = 0;
  }
}
