// The timers of a DTLS transport's sessions, driven from JS since the module owns none
// (RFC 6347 §4.2.4): one per handshaking session at its flight retransmission deadline,
// and a single sweep for the idle timeout of every established session, due when the least
// recently active one expires, and another for hibernation, due when the least recently
// active awake one has been idle `hibernateAfterMs`. Nothing here outlives stop().

import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import type { SessionEntry, SessionTable } from './session-table.js';

export interface TimerHooks {
  /** The entry's retransmission deadline passed. */
  due(entry: SessionEntry): void;
  /** The entry has been idle for the idle timeout: end it. */
  idle(entry: SessionEntry): void;
  /** The entry's session has been idle for the hibernation delay: hibernate it (one that
   * cannot is taken out of the awake order here until it is active again). */
  hibernate(entry: SessionEntry): void;
  /** A hook threw: logged, never a crash. */
  failed(error: unknown, entry: SessionEntry | undefined): void;
}

export class SessionTimers {
  readonly #clock: Clock;
  readonly #table: SessionTable;
  readonly #idleTimeoutMs: number;
  readonly #hooks: TimerHooks;
  /** 0: sessions never hibernate. */
  readonly #hibernateAfterMs: number;
  #sweepTimer: TimerHandle | undefined;
  #hibernateTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(clock: Clock, table: SessionTable, idleTimeoutMs: number, hibernateAfterMs: number, hooks: TimerHooks) {
    this.#clock = clock;
    this.#table = table;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#hibernateAfterMs = hibernateAfterMs;
    this.#hooks = hooks;
  }

  /** Sets the entry's one timer to what its session asks for now (none: cleared). A timer
   * already set for the same deadline is kept. */
  schedule(entry: SessionEntry): void {
    const delay = entry.removed || this.#stopped ? undefined : entry.session?.nextTimeoutMs();
    if (delay === undefined) {
      this.clear(entry);
      return;
    }
    const deadline = this.#clock.now() + delay;
    if (entry.timer !== undefined && entry.deadline !== undefined && Math.abs(entry.deadline - deadline) < 1) return;
    this.clear(entry);
    entry.deadline = deadline;
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      entry.deadline = undefined;
      try {
        this.#hooks.due(entry);
      } catch (error) {
        this.#hooks.failed(error, entry);
      }
    }, Math.ceil(delay));
  }

  clear(entry: SessionEntry): void {
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.deadline = undefined;
  }

  /** Arms the idle sweep when it is not armed and an established session exists, and the
   * hibernation sweep likewise for an awake one. */
  armSweep(): void {
    this.#armHibernation();
    if (this.#sweepTimer !== undefined || this.#stopped) return;
    const idlest = this.#table.leastRecentlyActive();
    if (idlest === undefined) return;
    const due = Math.max(0, idlest.lastActivity + this.#idleTimeoutMs - this.#clock.now());
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.#sweepTimer = undefined;
      this.#sweep();
    }, Math.ceil(due) + 1);
  }

  /** Clears the sweep; the entries' timers are cleared as the transport ends them. */
  stop(): void {
    this.#stopped = true;
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    if (this.#hibernateTimer !== undefined) this.#clock.clearTimeout(this.#hibernateTimer);
    this.#hibernateTimer = undefined;
  }

  #armHibernation(): void {
    if (this.#hibernateAfterMs === 0 || this.#hibernateTimer !== undefined || this.#stopped) return;
    const idlest = this.#table.leastRecentlyAwake();
    if (idlest === undefined) return;
    const due = Math.max(0, idlest.lastActivity + this.#hibernateAfterMs - this.#clock.now());
    this.#hibernateTimer = this.#clock.setTimeout(() => {
      this.#hibernateTimer = undefined;
      this.#hibernateSweep();
    }, Math.ceil(due) + 1);
  }

  #hibernateSweep(): void {
    const now = this.#clock.now();
    for (;;) {
      const idlest = this.#table.leastRecentlyAwake();
      if (idlest === undefined || now - idlest.lastActivity < this.#hibernateAfterMs) break;
      try {
        this.#hooks.hibernate(idlest);
      } catch (error) {
        this.#hooks.failed(error, idlest);
      }
      if (this.#table.leastRecentlyAwake() === idlest) this.#table.skipHibernation(idlest);
    }
    this.#armHibernation();
  }

  #sweep(): void {
    const now = this.#clock.now();
    // Least recently active first: the first one not expired ends the sweep.
    for (;;) {
      const idlest = this.#table.leastRecentlyActive();
      if (idlest === undefined || now - idlest.lastActivity < this.#idleTimeoutMs) break;
      try {
        this.#hooks.idle(idlest);
      } catch (error) {
        this.#hooks.failed(error, idlest);
      }
      // A hook that could not take it out of the table must not spin the sweep.
      if (this.#table.leastRecentlyActive() === idlest) break;
    }
    this.armSweep();
  }
}
