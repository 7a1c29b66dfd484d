// A task the agent runs every period on its clock (the health heartbeat, the registration
// refresh): the next run is one period after the last one ended, so two never overlap and a
// slow run delays the next rather than piling runs up. A new period (config.set) takes
// effect at once: the next run is one new period away.

import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import type { StopToken } from './interfaces.js';

export class Periodic {
  readonly #clock: Clock;
  readonly #stop: Pick<StopToken, 'requested'>;
  readonly #run: () => Promise<unknown>;
  #periodMs: number;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(clock: Clock, stop: Pick<StopToken, 'requested'>, periodMs: number, run: () => Promise<unknown>) {
    this.#clock = clock;
    this.#stop = stop;
    this.#periodMs = periodMs;
    this.#run = run;
  }

  get periodMs(): number {
    return this.#periodMs;
  }

  /** The first run one period from now. */
  start(): void {
    this.#schedule();
  }

  /** A new period; once started, the next run is one new period from now. */
  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    if (this.#timer !== undefined && !this.#stopped && !this.#stop.requested) {
      this.#clock.clearTimeout(this.#timer);
      this.#schedule();
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
  }

  /** A timer replaced meanwhile (a new period) leaves the rescheduling to its successor. */
  #schedule(): void {
    const timer = this.#clock.setTimeout(() => {
      void this.#run().catch(() => {}).finally(() => {
        if (!this.#stopped && !this.#stop.requested && this.#timer === timer) this.#schedule();
      });
    }, this.#periodMs);
    this.#timer = timer;
  }
}
