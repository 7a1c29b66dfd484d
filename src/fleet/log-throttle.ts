// A bound on how often one recurring failure is logged (a full disk fails every write
// until it is freed): the first goes out at once, then at most one per interval, each
// saying how many were left out since the last (DESIGN §6: the journal is a bound too).

export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #lastAt = -Infinity;
  #suppressed = 0;

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Calls `log` with the count left out since the last line, or leaves this one out. */
  take(log: (suppressed: number) => void): void {
    const now = this.#now();
    if (now - this.#lastAt < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    const suppressed = this.#suppressed;
    this.#lastAt = now;
    this.#suppressed = 0;
    log(suppressed);
  }
}
