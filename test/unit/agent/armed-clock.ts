// A virtual clock that shows which timers the code under test has armed. The agent's
// timers run on it while its requests go over real UDP: a test waits (bounded, in real
// time) until the agent has armed the timer it means, then advances exactly to it, rather
// than guessing when the agent's real I/O has got that far.

import type { TimerHandle } from '../../../src/protocol/interfaces.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

export class ArmedClock extends VirtualClock {
  /** Timers armed and neither run nor cleared, with their delays. */
  readonly #armed = new Map<TimerHandle, number>();

  override setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = super.setTimeout(() => {
      this.#armed.delete(handle);
      callback();
    }, delayMs);
    this.#armed.set(handle, delayMs);
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

  /** Waits, polling every 5 ms of real time, until a timer whose delay matches is armed;
   * resolves with that delay, fails naming `what` after `timeoutMs`. */
  async armed(match: (delayMs: number) => boolean, what: string, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const delay = this.armedDelays.find(match);
      if (delay !== undefined) return delay;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} to be armed (armed: ${this.armedDelays.join(', ') || 'none'})`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
