// The gateway's cache of forwarded GET responses (RFC 7252 §5.6, §5.7.1): a 2.05 from a
// node's agent is fresh for its Max-Age (60 s when it has none, §5.10.5; 0 is never
// stored), keyed by node, path, query and Accept (the options that are cache keys here,
// §5.4.2), answered with the freshness left as its Max-Age (§5.6.1). Bounded in entries
// and bytes, least recently used out first; a write to a node drops that node's entries,
// since a POST or PUT may change any of its representations (§5.6: "unsafe" methods).

import { ResponseCode } from '../protocol/codes.js';
import type { ResponseInit } from '../protocol/server-types.js';

export interface ResponseCacheLimits {
  readonly maxEntries: number;
  /** Payload and key bytes together. */
  readonly maxBytes: number;
}

/** Room for a few hundred nodes' lists at a few KiB each. */
export const DEFAULT_RESPONSE_CACHE_LIMITS: ResponseCacheLimits = { maxEntries: 1024, maxBytes: 8 * 1024 * 1024 };

/** §5.10.5: a response without Max-Age is fresh for 60 seconds. */
export const DEFAULT_MAX_AGE_S = 60;

interface Entry {
  readonly nodeId: string;
  readonly response: ResponseInit;
  /** In the clock's milliseconds. */
  readonly expiresAt: number;
  readonly bytes: number;
}

export class ResponseCache {
  readonly #now: () => number;
  readonly #limits: ResponseCacheLimits;
  /** Entries by cacheKey, least recently used first (a hit moves its entry to the end);
   * removed when stale on a lookup, when a node is written to, and past either bound. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  /** `now`: the gateway's clock in milliseconds. */
  constructor(now: () => number, limits: Partial<ResponseCacheLimits> = {}) {
    this.#now = now;
    this.#limits = { ...DEFAULT_RESPONSE_CACHE_LIMITS, ...limits };
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** A fresh response, its Max-Age the seconds of freshness left; undefined otherwise. */
  get(key: string): ResponseInit | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const left = entry.expiresAt - this.#now();
    if (left <= 0) {
      this.#delete(key, entry);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return { ...entry.response, maxAge: Math.floor(left / 1000) };
  }

  /** Keeps a 2.05 for its Max-Age; anything else, or Max-Age 0, drops what was kept. */
  set(key: string, nodeId: string, response: ResponseInit): void {
    const old = this.#entries.get(key);
    if (old !== undefined) this.#delete(key, old);
    const maxAge = response.maxAge ?? DEFAULT_MAX_AGE_S;
    if (response.code !== ResponseCode.Content || maxAge <= 0 || response.body !== undefined) return;
    const bytes = key.length + (response.payload?.length ?? 0);
    if (bytes > this.#limits.maxBytes) return;
    this.#entries.set(key, { nodeId, response, expiresAt: this.#now() + maxAge * 1000, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#limits.maxEntries && this.#bytes <= this.#limits.maxBytes) break;
      this.#delete(oldest, entry);
    }
  }

  /** Forgets every response of one node. */
  dropNode(nodeId: string): void {
    for (const [key, entry] of this.#entries) if (entry.nodeId === nodeId) this.#delete(key, entry);
  }

  #delete(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

/** The cache key of a forwarded GET: node, agent path, query and Accept. */
export const cacheKey = (nodeId: string, path: string, query: readonly string[], accept: number | undefined): string =>
  `${nodeId} ${path}?${query.join('&')} ${accept ?? ''}`;
