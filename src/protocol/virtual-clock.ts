// A deterministic clock for tests of the message layer, Observe and Block-wise: time only
// moves when the test advances it, and timers fire in order of their due time.

import type { Clock, TimerHandle } from './interfaces.js';

interface Timer {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

export class VirtualClock implements Clock {
  #now = 0;
  #nextId = 1;
  #timers = new Map<number, Timer>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, due: this.#now + Math.max(0, delayMs), callback });
    return { id } as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as { id: number }).id);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Runs the earliest timer alone, moving time to its due time; false when none is left.
   * Tests await microtasks between calls, as the event loop would between timers. */
  runNext(): boolean {
    let next: Timer | undefined;
    for (const timer of this.#timers.values()) {
      if (next === undefined || timer.due < next.due || (timer.due === next.due && timer.id < next.id)) next = timer;
    }
    if (next === undefined) return false;
    this.#timers.delete(next.id);
    this.#now = Math.max(this.#now, next.due);
    next.callback();
    return true;
  }

  /** Runs every timer due within `ms`, in due order (ties by creation), then sets the
   * time to now + ms. Timers created meanwhile run too when they fall due. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.#timers.values()) {
        if (timer.due <= end && (next === undefined || timer.due < next.due || (timer.due === next.due && timer.id < next.id))) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = next.due;
      next.callback();
    }
    this.#now = end;
  }
}
