// The agent's own audit of signed commands (DESIGN §6: "both sides audit it"): every
// command the agent accepted or refused, kept in its LMDB store under audit/ (the newest
// AUDIT_CAPACITY, oldest dropped), and one log line each: info when accepted, warn when
// refused, since a refusal is either a mistake or an attack.

import type { DaemonLogger } from '../fleet/logger.js';
import type { AgentStore, StoreSection } from './store.js';

export const AUDIT_CAPACITY = 1000;

export interface CommandAuditEntry {
  /** RFC 3339 UTC, the node's clock. */
  readonly at: string;
  /** The envelope's action, or null when none could be read. */
  readonly action: string | null;
  /** The resource it came to, e.g. POST /system/restart. */
  readonly resource: string;
  readonly outcome: 'accepted' | 'refused';
  /** Why it was refused ("expired: not_after … has passed"); null when accepted. */
  readonly reason: string | null;
  readonly key_id: string | null;
  readonly nonce: string | null;
}

/** Sequence numbers as fixed-width keys, so LMDB's key order is their order. */
const sequenceKey = (sequence: number): string => sequence.toString().padStart(16, '0');

export class CommandAudit {
  /** sequence → entry; appended by `record`, the oldest removed past `#capacity`. */
  readonly #entries: StoreSection;
  readonly #log: DaemonLogger;
  readonly #capacity: number;
  #next: number;

  constructor(store: AgentStore, log: DaemonLogger, capacity = AUDIT_CAPACITY) {
    this.#entries = store.section('audit/');
    this.#log = log;
    this.#capacity = capacity;
    const [last] = this.#entries.entries({ reverse: true, limit: 1 });
    this.#next = last === undefined ? 0 : Number(last.key) + 1;
  }

  /** Keeps and logs the entry. A write the disk refuses costs the entry, not the command:
   * it is logged at error, and the log line is there anyway. */
  record(entry: CommandAuditEntry): void {
    const fields = { action: entry.action, resource: entry.resource, key_id: entry.key_id, nonce: entry.nonce };
    if (entry.outcome === 'accepted') this.#log.info(fields, 'command accepted');
    else this.#log.warn({ ...fields, reason: entry.reason }, 'command refused');
    try {
      this.#entries.put(sequenceKey(this.#next++), entry);
      const excess = this.#entries.count() - this.#capacity;
      if (excess > 0) for (const { key } of [...this.#entries.entries({ limit: excess })]) this.#entries.remove(key);
    } catch (error) {
      this.#log.error({ err: error }, 'cannot keep the command audit entry');
    }
  }

  /** The kept entries, oldest first. */
  entries(): CommandAuditEntry[] {
    return [...this.#entries.entries()].map(({ value }) => value as CommandAuditEntry);
  }
}
