// One update's state on this node (DESIGN §5, STYLE "state machines are explicit"): the
// states and moves of src/fleet/update-state.ts, one transition() that refuses any other
// move, persists the record durably before anything is reported, logs `from -> to` and
// runs the entry action of the new state.

import { rm } from 'node:fs/promises';
import type { TransferReport } from '../fleet/link-quality.js';
import type { Manifest } from '../fleet/manifest.js';
import { canTransition, type NodeUpdateState } from '../fleet/update-state.js';
import { IllegalTransitionError } from './errors.js';
import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';
import type { UpdateStore } from './interfaces.js';
import type { DownloadProgress, InstallProgress, SlotsRecord, NodeUpdateRecord } from './store.js';

/** Told of every persisted change worth a status report (the reporter). */
export type StateListener = (record: NodeUpdateRecord) => void;

export interface TransitionDetails {
  readonly progress?: number;
  readonly error?: string | null;
  readonly download?: DownloadProgress | null;
  readonly install?: InstallProgress | null;
  /** The download's tuner figures (reported while downloading and on `downloaded`). */
  readonly transfer?: TransferReport;
  /** Committed in the same transaction as the record (the install's commit point). */
  readonly slots?: SlotsRecord;
}

export class UpdateMachine {
  #record: NodeUpdateRecord;
  readonly #store: UpdateStore;
  readonly #log: AgentLogger;
  readonly #listener: StateListener;

  constructor(record: NodeUpdateRecord, store: UpdateStore, log: AgentLogger, listener: StateListener) {
    this.#record = record;
    this.#store = store;
    this.#log = log.child({ update_id: record.updateId });
    this.#listener = listener;
  }

  /** A new update in `pending`, stored before anything else happens to it. */
  static async create(
    updateId: string, manifest: Manifest | null, store: UpdateStore, log: AgentLogger, listener: StateListener,
  ): Promise<UpdateMachine> {
    const record: NodeUpdateRecord = {
      updateId, manifest, state: 'pending', progress: 0, error: null, download: null, install: null, updatedAt: new Date().toISOString(),
    };
    await store.saveUpdate(record);
    return new UpdateMachine(record, store, log, listener);
  }

  get record(): NodeUpdateRecord {
    return this.#record;
  }

  get state(): NodeUpdateState {
    return this.#record.state;
  }

  get updateId(): string {
    return this.#record.updateId;
  }

  get log(): AgentLogger {
    return this.#log;
  }

  /** Moves to `to` (canTransition decides), persisted before it is reported. */
  async transition(to: NodeUpdateState, details: TransitionDetails = {}): Promise<void> {
    const from = this.#record.state;
    if (!canTransition(from, to)) throw new IllegalTransitionError('update state', from, to);
    await this.#save({ ...this.#apply(details), state: to }, details.slots);
    if (from !== to) this.#log.info({ from, to, error: this.#record.error ?? undefined }, `${from} -> ${to}`);
    await this.#enter(to);
    this.#listener(this.#record);
  }

  /** Persists details within the current state (download offset, install phase). */
  async save(details: TransitionDetails): Promise<void> {
    await this.#save(this.#apply(details), details.slots);
  }

  /** Download progress (and the tuner's figures) for the report only: the persisted
   * offset is the download's. */
  reportProgress(progress: number, transfer?: TransferReport): void {
    this.#record = { ...this.#record, progress, ...(transfer === undefined ? {} : { transfer }) };
    this.#listener(this.#record);
  }

  #apply(details: TransitionDetails): NodeUpdateRecord {
    const record = this.#record;
    return {
      ...record,
      progress: details.progress ?? record.progress,
      error: details.error === undefined ? record.error : details.error,
      download: details.download === undefined ? record.download : details.download,
      install: details.install === undefined ? record.install : details.install,
      updatedAt: new Date().toISOString(),
      ...(details.transfer === undefined ? {} : { transfer: details.transfer }),
    };
  }

  async #save(record: NodeUpdateRecord, slots: SlotsRecord | undefined): Promise<void> {
    await this.#store.saveUpdate(record, slots);
    this.#record = record;
  }

  /** Entry actions. The work of each state (verify, download, ask, install) is driven by
   * NodeUpdates (node-updates.ts); what belongs to entering a state is here. */
  async #enter(state: NodeUpdateState): Promise<void> {
    switch (state) {
      case 'pending':
      case 'downloading':
      case 'downloaded':
      case 'installing':
        return;
      case 'installed':
      case 'failed':
      case 'rolled_back': {
        // The outcome is durable: the partial or verified download has no further use.
        const path = this.#record.download?.path;
        if (path !== undefined) {
          await rm(path, { force: true });
          await this.#save({ ...this.#record, download: null }, undefined);
        }
        return;
      }
    }
  }
}
