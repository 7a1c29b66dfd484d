// A virtual clock that shows which timers the code under test has armed. The agent's
// timers run on it while its requests go over real UDP: a test waits (bounded, in real
// time) until the agent has armed the timer it means, then advances exactly to it, rather
// than guessing when the agent's real I/O has got that far.

import type { TimerHandle } from '../../../src/protocol/interfaces.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

export class ArmedClock extends VirtualClock {
  /** Timers armed and neither run nor cleared, with their delays. */
  readonly #armed = new Map<TimerHandle, number>();
  /** Tests waiting for a timer of a given delay; told as soon as one is armed. */
  readonly #waiters = new Set<{ readonly match: (delayMs: number) => boolean; readonly resolve: (delayMs: number) => void }>();

  override setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = super.setTimeout(() => {
      this.#armed.delete(handle);
      callback();
    }, delayMs);
    this.#armed.set(handle, delayMs);
    for (const waiter of this.#waiters) {
      if (waiter.match(delayMs)) {
        this.#waiters.delete(waiter);
        waiter.resolve(delayMs);
      }
    }
    return handle;
  }

  override clearTimeout(handle: TimerHandle): void {
    this.#armed.delete(handle);
    super.clearTimeout(handle);
  }

  /** The delays of the timers armed now. */
  get armedDelays(): number[] {
    return [...this.#armed.values()];
  }

  /** Resolves with the delay of a matching timer as soon as one is armed (or is already);
   * fails naming `what` after `timeoutMs` of real time. */
  armed(match: (delayMs: number) => boolean, what: string, timeoutMs = 30_000): Promise<number> {
    const delay = this.armedDelays.find(match);
    if (delay !== undefined) return Promise.resolve(delay);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (armed: number) => {
          clearTimeout(timer);
          resolve(armed);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${what} to be armed (armed: ${this.armedDelays.join(', ') || 'none'})`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}
