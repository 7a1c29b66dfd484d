// The agent's durable state (DESIGN §7) in one LMDB environment under <data>/state: per
// update its record (manifest, state, download progress, install phase), which slot is
// committed, and which terminal states the gateway has acknowledged; and sections of keys
// for the signed commands' nonce ledger and audit log (nonce-ledger-lmdb.ts,
// command-audit.ts). Every write that a
// crash must not lose is awaited until LMDB has flushed it, not only committed it. A write
// the disk refuses rejects with StoreWriteError (fleet/errors.ts, made by fleet/store-write-error.ts) and the store
// goes on; agent.ts checks the environment (fleet/store-check.ts) before it opens it.

import { open, type RootDatabase } from 'lmdb';
import type { TransferReport } from '../fleet/link-quality.js';
import type { Manifest } from '../fleet/manifest.js';
import { storeWriteError } from '../fleet/store-write-error.js';
import type { NodeUpdateState } from '../fleet/update-state.js';
import type { Slot, UpdateStore } from './interfaces.js';

/** Where a download stands: `verified` bytes from 0 are in the partial file and fsynced;
 * under a format 2 manifest they are a whole number of chunks, each hashed right. */
export interface DownloadProgress {
  readonly path: string;
  /** Hex; the ETag the gateway serves: the first 8 bytes of the sha256 (the contract). */
  readonly etag: string;
  /** Hex, from the signed manifest's checksum. */
  readonly sha256: string;
  readonly verified: number;
}

/** The install state machine (installer.ts), persisted before each step it names. The
 * reboot phases are those of an install system that boots the new slot (RAUC, SWUpdate). */
export type InstallPhase =
  | 'writing' | 'switched-unverified' | 'awaiting-reboot' | 'rebooted-unverified' | 'rolling-back' | 'awaiting-reboot-back'
  | 'committed' | 'rolled-back' | 'abandoned';

export interface InstallProgress {
  readonly phase: InstallPhase;
  /** The committed slot before this install; null when only the initial version ran. */
  readonly from: Slot | null;
  readonly to: Slot;
  /** Times the slot write was started, bounded so a crash loop ends. */
  readonly attempts: number;
  /** Why it is rolling back, kept so a crash mid-roll-back reports the first reason. */
  readonly reason: string | null;
  /** The install system's name of the slot it installed to (a RAUC slot, a SWUpdate copy),
   * checked against the booted one after the reboot; absent for the directory scheme. */
  readonly target?: string | null;
  /** Reboot commands run for this install, persisted before each: at most MAX_REBOOTS. */
  readonly reboots?: number;
  /** The device booted the new slot: going back takes another reboot. */
  readonly bootedNew?: boolean;
}

export interface NodeUpdateRecord {
  readonly updateId: string;
  /** Null for a manifest refused as malformed: nothing of it was trusted. */
  readonly manifest: Manifest | null;
  readonly state: NodeUpdateState;
  readonly progress: number;
  readonly error: string | null;
  readonly download: DownloadProgress | null;
  readonly install: InstallProgress | null;
  readonly updatedAt: string;
  /** The download's latest tuner figures, for the status reports of `downloading` and
   * `downloaded`; absent before a tuned download (and in records of earlier releases). */
  readonly transfer?: TransferReport;
}

export interface SlotsRecord {
  /** The slot the device runs when no install is in flight; null: the initial version. */
  readonly committed: Slot | null;
  readonly version: string | null;
  readonly updateId: string | null;
}

const UPDATE_PREFIX = 'update/';
const REPORTED_PREFIX = 'reported/';
const SLOTS_KEY = 'slots';
const NO_SLOTS: SlotsRecord = { committed: null, version: null, updateId: null };

/** The keys of the store under one prefix, with synchronous writes: each commits (and LMDB
 * syncs it) before it returns, so a command's nonce is on disk before the command runs. A
 * write the disk refuses throws from LMDB. */
export interface StoreSection {
  get(key: string): unknown;
  put(key: string, value: unknown): void;
  remove(key: string): void;
  /** Key and value pairs in key order (after the prefix); `reverse` from the last. */
  entries(options?: { reverse?: boolean; limit?: number }): Iterable<{ key: string; value: unknown }>;
  count(): number;
}

export class AgentStore implements UpdateStore {
  readonly #db: RootDatabase<unknown, string>;
  readonly #directory: string;

  private constructor(db: RootDatabase<unknown, string>, directory: string) {
    this.#db = db;
    this.#directory = directory;
  }

  /** Opens (creating) the environment in `directory`. JSON values, so an operator or a
   * test can read the state with any LMDB reader. Without event-turn batching: a commit
   * the disk refuses would reject lmdb-js's own batch promise, unheard, ending the process. */
  static open(directory: string): AgentStore {
    return new AgentStore(open<unknown, string>({ path: directory, encoding: 'json', eventTurnBatching: false }), directory);
  }

  /** Runs `write`, then waits for the flush; a refusal of the disk becomes StoreWriteError. */
  async #durably(write: () => PromiseLike<unknown>): Promise<void> {
    try {
      await write();
      await this.#db.flushed;
    } catch (error) {
      throw (await storeWriteError(error, this.#directory)) ?? error;
    }
  }

  update(updateId: string): NodeUpdateRecord | undefined {
    return this.#db.get(UPDATE_PREFIX + updateId) as NodeUpdateRecord | undefined;
  }

  updates(): NodeUpdateRecord[] {
    const records: NodeUpdateRecord[] = [];
    for (const { value } of this.#db.getRange({ start: UPDATE_PREFIX, end: `${UPDATE_PREFIX}\uffff` })) {
      records.push(value as NodeUpdateRecord);
    }
    return records;
  }

  slots(): SlotsRecord {
    return (this.#db.get(SLOTS_KEY) as SlotsRecord | undefined) ?? NO_SLOTS;
  }

  /** Stores the record (and the committed slot, in the same transaction) durably. */
  saveUpdate(record: NodeUpdateRecord, slots?: SlotsRecord): Promise<void> {
    return this.#durably(() => this.#db.transaction(() => {
      void this.#db.put(UPDATE_PREFIX + record.updateId, record);
      if (slots !== undefined) void this.#db.put(SLOTS_KEY, slots);
    }));
  }

  saveSlots(slots: SlotsRecord): Promise<void> {
    return this.#durably(() => this.#db.put(SLOTS_KEY, slots));
  }

  /** The last terminal state the gateway acknowledged for this update. */
  reportedState(updateId: string): NodeUpdateState | undefined {
    return this.#db.get(REPORTED_PREFIX + updateId) as NodeUpdateState | undefined;
  }

  markReported(updateId: string, state: NodeUpdateState): Promise<void> {
    return this.#durably(() => this.#db.put(REPORTED_PREFIX + updateId, state));
  }

  /** The keys under `prefix` (e.g. "nonce/"), which no other part of the store uses. */
  section(prefix: string): StoreSection {
    const db = this.#db;
    // A fresh object per call: lmdb-js marks the options it is given (getKeysCount's
    // would turn a later getRange into a count).
    const range = () => ({ start: prefix, end: `${prefix}\uffff` });
    return {
      get: (key) => db.get(prefix + key),
      put: (key, value) => db.putSync(prefix + key, value),
      remove: (key) => { db.removeSync(prefix + key); },
      entries: (options = {}) => ({
        *[Symbol.iterator]() {
          const { start, end } = range();
          const ordered = options.reverse === true ? { start: end, end: start, reverse: true } : { start, end };
          for (const { key, value } of db.getRange({ ...ordered, ...(options.limit === undefined ? {} : { limit: options.limit }) })) {
            yield { key: key.slice(prefix.length), value };
          }
        },
      }),
      count: () => db.getKeysCount(range()),
    };
  }

  async close(): Promise<void> {
    // A last write the disk refused was reported to its caller already.
    await Promise.resolve(this.#db.flushed).catch(() => {});
    await this.#db.close();
  }
}
