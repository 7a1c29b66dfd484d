// The follows behind an observation of GET /logs (RFC 7641; DESIGN §5 "Observe =
// follow"): one per distinct query, each polling the log source after its cursor on the
// agent's clock and keeping its new entries as numbered batches, so each observer gets
// exactly the entries that arrived since its previous notification. Polling runs while
// the resource has observers and stops when the last one leaves.
//
// Tables and their bounds: `#follows` by query key, at most maxFollows (a new query past
// it is refused with 5.03); each follow keeps its last MAX_BATCHES batches of at most
// MAX_LOG_RESPONSE_BYTES each (an observer that missed more is told `truncated`). A follow no observer claimed a batch of for
// UNCLAIMED_DROP_MS goes; one whose observer comes back later is taken up again.

import type { DaemonLogger } from '../fleet/logger.js';
import type { LogEntry } from '../fleet/node-views.js';
import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import { boundEntries, MAX_LOG_RESPONSE_BYTES, type LogQuery, type LogSource } from './log-source.js';
import { RingBuffer } from './ring-buffer.js';

export const LOG_FOLLOW_POLL_MS = 2000;
export const MAX_LOG_FOLLOWS = 4;
const MAX_BATCHES = 8;
const UNCLAIMED_DROP_MS = 5 * 60_000;

interface Batch {
  readonly number: number;
  readonly entries: readonly LogEntry[];
  readonly truncated: boolean;
}

export class LogFollow {
  readonly key: string;
  readonly query: LogQuery;
  cursor: unknown;
  /** The number of the newest batch; 0 before the first. */
  newest = 0;
  readonly batches = new RingBuffer<Batch>(MAX_BATCHES);
  /** When a batch was last claimed, or the follow began (agent clock). */
  claimedAt: number;
  /** Whether any batch after the newest claimed one waits. */
  unclaimed = false;
  /** The source failed at the last poll (logged once per failing spell). */
  failing = false;

  constructor(key: string, query: LogQuery, cursor: unknown, now: number) {
    this.key = key;
    this.query = query;
    this.cursor = cursor;
    this.claimedAt = now;
  }
}

/** Where one observer is in its follow. */
export interface FollowPlace {
  readonly follow: LogFollow;
  delivered: number;
}

export interface LogFollowsOptions {
  readonly source: LogSource;
  readonly clock: Clock;
  readonly log: DaemonLogger;
  /** How many observe the resource now (Endpoint.observers). */
  readonly observers: () => number;
  /** Tells the observers there is news (Endpoint.notify). */
  readonly notify: () => void;
  readonly pollMs?: number;
  readonly maxFollows?: number;
}

export class LogFollows {
  readonly #options: LogFollowsOptions;
  readonly #pollMs: number;
  readonly #maxFollows: number;
  readonly #follows = new Map<string, LogFollow>();
  #timer: TimerHandle | undefined;
  #polling: Promise<void> | undefined;
  #stopped = false;

  constructor(options: LogFollowsOptions) {
    this.#options = options;
    this.#pollMs = options.pollMs ?? LOG_FOLLOW_POLL_MS;
    this.#maxFollows = options.maxFollows ?? MAX_LOG_FOLLOWS;
  }

  get size(): number {
    return this.#follows.size;
  }

  /** A place in the follow of `query`, which goes on from `cursor` when it is new;
   * undefined when maxFollows other queries are followed already. */
  join(query: LogQuery, cursor: unknown): FollowPlace | undefined {
    const key = queryKey(query);
    let follow = this.#follows.get(key);
    if (follow === undefined) {
      if (this.#follows.size >= this.#maxFollows || this.#stopped) return undefined;
      follow = new LogFollow(key, query, cursor, this.#options.clock.now());
      this.#follows.set(key, follow);
      this.#options.log.debug({ query: key, follows: this.#follows.size }, 'log follow started');
    }
    this.#schedule();
    return { follow, delivered: follow.newest };
  }

  /** The entries of the batches after the observer's place, which moves past them;
   * `truncated` when some were dropped before it came for them. */
  claim(place: FollowPlace): { entries: LogEntry[]; truncated: boolean } {
    const { follow } = place;
    if (!this.#follows.has(follow.key) && !this.#stopped && this.#follows.size < this.#maxFollows) {
      // Dropped while its observer was slow to take a notification: taken up again.
      this.#follows.set(follow.key, follow);
      this.#schedule();
    }
    const batches = follow.batches.toArray().filter((batch) => batch.number > place.delivered);
    const missed = batches.length > 0 ? batches[0]!.number > place.delivered + 1 : follow.newest > place.delivered;
    place.delivered = follow.newest;
    follow.claimedAt = this.#options.clock.now();
    follow.unclaimed = false;
    return { entries: batches.flatMap((batch) => batch.entries), truncated: missed || batches.some((batch) => batch.truncated) };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#follows.clear();
    await this.#polling;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#polling !== undefined || this.#stopped) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#polling = this.#poll().finally(() => {
        this.#polling = undefined;
        if (this.#follows.size > 0) this.#schedule();
      });
    }, this.#pollMs);
  }

  async #poll(): Promise<void> {
    if (this.#options.observers() === 0) {
      if (this.#follows.size > 0) this.#options.log.debug({ follows: this.#follows.size }, 'no observer of /logs left: follows stopped');
      this.#follows.clear();
      return;
    }
    const now = this.#options.clock.now();
    let news = false;
    for (const follow of [...this.#follows.values()]) {
      if (follow.unclaimed && now - follow.claimedAt >= UNCLAIMED_DROP_MS) {
        this.#follows.delete(follow.key);
        this.#options.log.debug({ query: follow.key }, 'log follow unclaimed: stopped');
        continue;
      }
      try {
        const read = await this.#options.source.readAfter(follow.query, follow.cursor);
        follow.cursor = read.cursor;
        if (follow.failing) this.#options.log.info({ query: follow.key }, 'log source readable again');
        follow.failing = false;
        if (read.entries.length === 0 && !read.truncated) continue;
        follow.newest++;
        const bounded = boundEntries(read.entries, MAX_LOG_RESPONSE_BYTES);
        follow.batches.push({ number: follow.newest, entries: bounded.entries, truncated: read.truncated || bounded.truncated });
        if (!follow.unclaimed) follow.claimedAt = now;
        follow.unclaimed = true;
        news = true;
      } catch (error) {
        if (!follow.failing) this.#options.log.warn({ err: error, query: follow.key }, 'cannot follow the log');
        follow.failing = true;
      }
      if (this.#stopped) return;
    }
    if (news) this.#options.notify();
  }
}

/** What tells follows apart: the filters on new entries (`lines` and `since` shape only
 * the first answer), one spelling whatever order the arguments came in. */
const queryKey = (query: LogQuery): string => `unit=${query.unit ?? ''}&priority=${query.priority ?? ''}`;
