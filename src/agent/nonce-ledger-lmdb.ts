// The agent's memory of accepted command nonces (DESIGN §7: "command nonces until they
// expire"), in its LMDB store under nonce/: a signed command runs once, across restarts of
// the agent too. Each nonce is committed before verifyCommand lets its command run.

import { NonceLedgerFullError } from '../fleet/errors.js';
import { DEFAULT_NONCE_CAPACITY, type NonceLedger } from '../fleet/nonce-ledger.js';
import type { AgentStore, StoreSection } from './store.js';

export class LmdbNonceLedger implements NonceLedger {
  /** nonce → its not_after (ms since the epoch). Added by `remember`, removed by `sweep`
   * once expired; at most `#capacity` entries. */
  readonly #nonces: StoreSection;
  readonly #capacity: number;

  constructor(store: AgentStore, capacity = DEFAULT_NONCE_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`nonce capacity must be a positive integer, not ${capacity}`);
    this.#nonces = store.section('nonce/');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#nonces.count();
  }

  seen(nonce: string): boolean {
    return this.#nonces.get(nonce) !== undefined;
  }

  remember(nonce: string, notAfter: number, now: number): void {
    if (this.seen(nonce)) return;
    if (this.size >= this.#capacity) this.sweep(now);
    // Never one forgotten to make room: its envelope could then be replayed.
    if (this.size >= this.#capacity) throw new NonceLedgerFullError(this.#capacity);
    this.#nonces.put(nonce, notAfter);
  }

  sweep(now: number): void {
    const expired = [...this.#nonces.entries()].filter(({ value }) => typeof value !== 'number' || value < now).map(({ key }) => key);
    for (const nonce of expired) this.#nonces.remove(nonce);
  }
}
