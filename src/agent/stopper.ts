// How a stop request reaches an agent's work (interfaces.ts StopToken): `soft` at once
// (waits end), `hard` after a grace time (requests still in flight are aborted). The
// agent's and each simulated node's.

import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import type { StopToken } from './interfaces.js';

/** After a stop request, requests still in flight (a block) get this long to finish. */
const STOP_GRACE_MS = 3000;

export class Stopper implements StopToken {
  readonly #soft = new AbortController();
  readonly #hard = new AbortController();
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get requested(): boolean {
    return this.#soft.signal.aborted;
  }

  get soft(): AbortSignal {
    return this.#soft.signal;
  }

  get hard(): AbortSignal {
    return this.#hard.signal;
  }

  request(): void {
    this.#soft.abort();
    this.#timer = this.#clock.setTimeout(() => this.#hard.abort(), STOP_GRACE_MS);
  }

  dispose(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#hard.abort();
  }
}
