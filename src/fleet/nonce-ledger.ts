// The command verifier's memory of nonces it has accepted (DESIGN §6, §7: "command nonces
// until they expire"): a signed command runs once, and its nonce is kept until its
// not_after passes, after which the envelope is refused as expired anyway. The agent will
// keep one in LMDB; this file holds the contract and the bounded in-memory one.

import { NonceLedgerFullError } from './errors.js';

/** What the verifier asks of a nonce memory. Synchronous, so that a store with synchronous
 * reads and writes (LMDB's get / putSync) fits; times are milliseconds since the epoch. */
export interface NonceLedger {
  /** Whether this nonce was accepted before and has not been swept. */
  seen(nonce: string): boolean;
  /** Keeps the nonce until `notAfter`. Throws NonceLedgerFullError when the memory is full
   * of nonces that have not expired at `now`: never forgets one of those to make room. */
  remember(nonce: string, notAfter: number, now: number): void;
  /** Forgets every nonce whose not_after is before `now`. */
  sweep(now: number): void;
}

/** The default bound: a thousand commands per node within one envelope lifetime (an hour)
 * is far beyond what an operator sends, and 1000 short strings are a few tens of KB. */
export const DEFAULT_NONCE_CAPACITY = 1000;

export class MemoryNonceLedger implements NonceLedger {
  /** nonce → its not_after (ms). Entries are added by `remember` and removed by `sweep`
   * once expired; at most `#capacity` entries. */
  readonly #entries = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity = DEFAULT_NONCE_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`nonce capacity must be a positive integer, not ${capacity}`);
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  seen(nonce: string): boolean {
    return this.#entries.has(nonce);
  }

  remember(nonce: string, notAfter: number, now: number): void {
    if (this.#entries.has(nonce)) return;
    if (this.#entries.size >= this.#capacity) this.sweep(now);
    if (this.#entries.size >= this.#capacity) throw new NonceLedgerFullError(this.#capacity);
    this.#entries.set(nonce, notAfter);
  }

  sweep(now: number): void {
    for (const [nonce, notAfter] of this.#entries) {
      if (notAfter < now) this.#entries.delete(nonce);
    }
  }
}
