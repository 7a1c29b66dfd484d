// A map whose entries expire, bounded in entries and bytes: the deduplication table of
// the message layer. Oldest entries go first, by expiry or when a bound is reached.

import type { Clock, TimerHandle } from './interfaces.js';

interface Entry<V> {
  value: V;
  readonly expiresAt: number;
  bytes: number;
}

export class ExpiringCache<V> {
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  // Insertion order is close to expiry order (two lifetimes at most), so sweeping from the
  // head finds expired entries without a heap.
  readonly #entries = new Map<string, Entry<V>>();
  #bytes = 0;
  #timer: TimerHandle | undefined;

  constructor(clock: Clock, maxEntries: number, maxBytes: number) {
    this.#clock = clock;
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#clock.now()) {
      this.#delete(key, entry);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number, bytes = 0): void {
    const old = this.#entries.get(key);
    if (old !== undefined) this.#delete(key, old);
    this.#entries.set(key, { value, expiresAt: this.#clock.now() + ttlMs, bytes });
    this.#bytes += bytes;
    this.#evictOverflow();
    this.#arm();
  }

  /** Replaces the value of a live entry, keeping its expiry; false if there is none. */
  update(key: string, value: V, bytes: number): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#bytes += bytes - entry.bytes;
    entry.value = value;
    entry.bytes = bytes;
    this.#evictOverflow();
    return true;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#delete(key, entry);
    // The last entry gone: no sweep is due (an idle endpoint keeps no timer).
    if (this.#entries.size === 0) this.clear();
  }

  /** Drops every entry whose key starts with `prefix` (a peer's entries when it goes). */
  deletePrefix(prefix: string): void {
    for (const [key, entry] of this.#entries) if (key.startsWith(prefix)) this.#delete(key, entry);
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #delete(key: string, entry: Entry<V>): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Over a bound, the oldest entries go down to 7/8 of it in one pass: a Map iterated
   * from its start after many deletions walks their holes, so one eviction per insert
   * would make every insert at the bound slow. */
  #evictOverflow(): void {
    if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) return;
    const entries = Math.floor(this.#maxEntries * 7 / 8);
    const bytes = Math.floor(this.#maxBytes * 7 / 8);
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= entries && this.#bytes <= bytes) break;
      this.#delete(key, entry);
    }
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#delete(key, entry);
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const first = this.#entries.values().next();
    if (first.done === true) return;
    this.#timer = this.#clock.setTimeout(() => this.#sweep(), Math.max(1, first.value.expiresAt - this.#clock.now()));
  }
}
