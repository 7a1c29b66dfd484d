// The gateway's state in one LMDB environment (DESIGN §7): named databases for nodes,
// updates, per-node update statuses, the audit log, alerts, the metrics history and the
// health baselines of gated rollouts. Reads are synchronous; writes that
// belong together go through `atomically`, and what a response acknowledges is awaited
// until LMDB has flushed it to disk, not merely committed it (lmdb-js resolves a write at
// commit; with overlappingSync the fsync comes after: `flushed` is the durable point).
// A write the disk refuses (full, quota) is a 5.03 for the request that made it, and the
// store goes on: LMDB aborts that transaction and the next one succeeds once there is room.
// Health reports and the metrics history, the bulk of the writes at scale (10,000 nodes
// every 30 s), go to a second environment opened without fsync (REPORTS_DIRECTORY): a crash of the process loses none,
// a power cut those the kernel had not written back yet (seconds; the next report replaces
// them), and never a registration, status, manifest or audit entry, which stay apart.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { NodeUpdateStatus } from '../fleet/update-state.js';
import type { StoreWriteError } from '../fleet/errors.js';
import { checkStore } from '../fleet/store-check.js';
import { storeWriteError } from '../fleet/store-write-error.js';
import { StateUnavailable, StoreError } from './errors.js';
import type { AuditEntry, NodeRecord, NodeReport, StatusRecord, RolloutRecord } from './records.js';
import type { AlertRecord } from './alert-rules.js';
import type { MetricsSample } from '../fleet/node-views.js';
import type { Baseline } from '../fleet/health-gate.js';
import { revocationKey, revocationKeysOf, type RevocationRecord } from '../fleet/revocation.js';
import type { BootstrapRecord } from './enrollment.js';

export interface StoreOptions {
  /** Audit entries kept; past this the oldest are removed in the same transaction. */
  readonly auditMaxEntries: number;
  /** Told of every write the disk refused, before the caller gets its StateUnavailable. */
  readonly onWriteFailure?: (error: StoreWriteError) => void;
  /** Cleared alerts kept; past this the oldest cleared go (active ones always stay). */
  readonly alertHistoryMax?: number;
}

export const DEFAULT_ALERT_HISTORY_MAX = 1000;

/** The unsynced environment of health reports, inside the state directory (LMDB keeps its
 * own files, data.mdb and lock.mdb, at the top of it and leaves subdirectories alone). */
export const REPORTS_DIRECTORY = 'reports';
/** Its named databases: the newest report of each node, and the metrics history. */
const REPORTS_DATABASES = ['reports', 'metrics'];

/** How far a write must get before its promise resolves: `flushed` for what a response
 * acknowledges (registrations, manifests, statuses, operator actions), `committed` for
 * what may be lost in a crash without harm (health samples, last_seen, denial entries). */
export type Durability = 'flushed' | 'committed';

// Status keys are "<update id>/<node id>": ids never contain "/" (fleet/paths.ts), so one
// update's entries are one contiguous key range.
const statusKey = (updateId: string, nodeId: string): string => `${updateId}/${nodeId}`;
const RANGE_END = '\uffff';

/** Metrics keys are [node id, the sample's time in epoch ms] (lmdb-js orders array keys
 * element by element): one node's history is one key range, oldest first, and a sample
 * sent twice (pushed and notified) is stored once. */
type MetricsKey = [string, number];
const metricsKey = (nodeId: string, at: number): MetricsKey => [nodeId, at];
const METRICS_END = Number.MAX_SAFE_INTEGER;

export class GatewayStore {
  readonly #root: RootDatabase;
  readonly #nodes: Database<NodeRecord, string>;
  readonly #updates: Database<RolloutRecord, string>;
  readonly #statuses: Database<StatusRecord, string>;
  /** Keyed by a sequence number that only grows; the lowest keys are the oldest. */
  readonly #audit: Database<AuditEntry, number>;
  /** Alerts keyed by a sequence number that only grows (their id); lowest oldest. */
  readonly #alerts: Database<AlertRecord, number>;
  /** In the reports environment (unsynced); thinned by metrics-history.ts. */
  readonly #metrics: Database<MetricsSample, MetricsKey>;
  /** Per "<update id>/<node id>": the target's baseline, taken at its install grant
   * (fleet/health-gate.ts); bounded by the updates' targets, gone with nothing (small). */
  readonly #baselines: Database<Baseline, string>;
  /** The certificate revocation list by revocationKey ("serial:…", "subject:node:n1"):
   * entries stay (a revoked certificate never comes back); bounded by MAX_REVOCATIONS. */
  readonly #revocations: Database<RevocationRecord, string>;
  /** Bootstrap PSKs for enrollment by their identity ("bootstrap:n1", one per node, a new
   * one replacing it); expired and used ones are pruned when one is added (enrollment.ts). */
  readonly #bootstraps: Database<BootstrapRecord, string>;
  /** The environment of health reports, opened without fsync: what it holds may be lost
   * in a power cut (see the top of the file). (lmdb-js's write map, which would also save
   * the page writes, trips an LMDB assertion in mdb_freelist_save here: not used.) */
  readonly #reportsRoot: RootDatabase;
  /** Why the reports environment was found damaged and started afresh at this open, if it was. */
  readonly reportsDiscarded: string | undefined;
  /** Per node id: its newest health report (NodeReport), laid over its NodeRecord by
   * getNode and listNodes. Bounded by the registered nodes: removed with the node, and a
   * report that outlived its node (a decommission racing a report) is dropped at open. */
  readonly #reports: Database<NodeReport, string>;
  readonly #options: StoreOptions;
  readonly #directory: string;
  #alertNext: number;
  #auditNext: number;
  #auditCount: number;
  #closed = false;

  private constructor(root: RootDatabase, reports: { root: RootDatabase; discarded: string | undefined }, directory: string, options: StoreOptions) {
    const reportsRoot = reports.root;
    this.reportsDiscarded = reports.discarded;
    this.#root = root;
    this.#reportsRoot = reportsRoot;
    this.#reports = reportsRoot.openDB<NodeReport, string>({ name: REPORTS_DATABASES[0] });
    this.#directory = directory;
    this.#options = options;
    const [nodes, updates, statuses, audit, alerts, metrics, baselines, revocations, bootstraps] = GatewayStore.DATABASES;
    this.#nodes = root.openDB<NodeRecord, string>({ name: nodes });
    this.#updates = root.openDB<RolloutRecord, string>({ name: updates });
    this.#statuses = root.openDB<StatusRecord, string>({ name: statuses });
    this.#audit = root.openDB<AuditEntry, number>({ name: audit });
    const last = [...this.#audit.getKeys({ reverse: true, limit: 1 })][0];
    this.#auditNext = last === undefined ? 1 : last + 1;
    this.#auditCount = this.#audit.getCount();
    // A state store from before alerts or metrics has neither: created here at its first
    // open (the check at start reads them when present: ADDED_DATABASES).
    this.#alerts = root.openDB<AlertRecord, number>({ name: alerts });
    this.#metrics = reportsRoot.openDB<MetricsSample, MetricsKey>({ name: metrics });
    moveMetrics(root.openDB<MetricsSample, MetricsKey>({ name: metrics }), this.#metrics);
    this.#baselines = root.openDB<Baseline, string>({ name: baselines });
    this.#revocations = root.openDB<RevocationRecord, string>({ name: revocations });
    this.#bootstraps = root.openDB<BootstrapRecord, string>({ name: bootstraps });
    const lastAlert = [...this.#alerts.getKeys({ reverse: true, limit: 1 })][0];
    this.#alertNext = lastAlert === undefined ? 1 : lastAlert + 1;
    for (const nodeId of this.#reports.getKeys()) if (this.#nodes.get(nodeId) === undefined) this.#reports.removeSync(nodeId);
  }

  /** The named databases of the durable environment, for the check at start
   * (fleet/store-check.ts). Its `metrics` is empty since the history moved to the reports
   * environment (moveMetrics). */
  static readonly DATABASES = ['nodes', 'updates', 'statuses', 'audit', 'alerts', 'metrics', 'baselines', 'revocations', 'bootstraps'] as const;

  /** Those of DATABASES a store written by an earlier release may lack until its first open. */
  static readonly ADDED_DATABASES: readonly string[] = ['alerts', 'metrics', 'baselines', 'revocations', 'bootstraps'];

  /** Opens (creating) the environment in `directory`. */
  static async open(directory: string, options: StoreOptions): Promise<GatewayStore> {
    try {
      await mkdir(directory, { recursive: true });
      // Without event-turn batching: its batch promise is lmdb-js's own, and a commit that
      // fails (a full disk) would reject it with nobody listening, ending the process.
      const root = open({ path: directory, maxDbs: 12, eventTurnBatching: false });
      return new GatewayStore(root, await openReports(join(directory, REPORTS_DIRECTORY)), directory, options);
    } catch (error) {
      throw new StoreError(`cannot open the state store in ${directory}: ${(error as Error).message}`, { cause: error });
    }
  }

  // ---- reads (also valid inside `atomically`, where they see its writes) ------------

  /** Whether a presented certificate is revoked, by its serial or its principal. Called
   * during handshakes: a synchronous read. */
  isRevoked(certificate: { readonly serial: string; readonly subject: string }): boolean {
    return revocationKeysOf(certificate).some((key) => this.#revocations.get(key) !== undefined);
  }

  getRevocation(kind: RevocationRecord['kind'], value: string): RevocationRecord | undefined {
    return this.#revocations.get(revocationKey(kind, value));
  }

  listRevocations(): RevocationRecord[] {
    return [...this.#revocations.getRange()].map(({ value }) => value);
  }

  getBootstrap(identity: string): BootstrapRecord | undefined {
    return this.#bootstraps.get(identity);
  }

  listBootstraps(): BootstrapRecord[] {
    return [...this.#bootstraps.getRange()].map(({ value }) => value);
  }

  revocationCount(): number {
    return this.#revocations.getCount();
  }

  getNode(nodeId: string): NodeRecord | undefined {
    const node = this.#nodes.get(nodeId);
    return node === undefined ? undefined : withReport(node, this.#reports.get(nodeId));
  }

  listNodes(): NodeRecord[] {
    return [...this.#nodes.getRange()].map(({ key, value }) => withReport(value, this.#reports.get(key)));
  }

  getUpdate(updateId: string): RolloutRecord | undefined {
    return this.#updates.get(updateId);
  }

  listUpdates(): RolloutRecord[] {
    return [...this.#updates.getRange()].map(({ value }) => value);
  }

  /** Updates in id order, read as iterated; with `after`, those whose id follows it (a
   * page cursor that stays valid while updates are added). */
  *updatesAfter(after?: string): Generator<RolloutRecord> {
    for (const { key, value } of this.#updates.getRange(after === undefined ? {} : { start: after })) {
      if (key !== after) yield value;
    }
  }

  getStatus(updateId: string, nodeId: string): StatusRecord | undefined {
    return this.#statuses.get(statusKey(updateId, nodeId));
  }

  /** Every target's status: the stored one, or `pending` since the update's creation. */
  statusesOf(update: RolloutRecord): Map<string, NodeUpdateStatus> {
    const stored = new Map<string, StatusRecord>();
    const prefix = `${update.manifest.update_id}/`;
    for (const { key, value } of this.#statuses.getRange({ start: prefix, end: `${prefix}${RANGE_END}` })) {
      stored.set(key.slice(prefix.length), value);
    }
    const pending: NodeUpdateStatus = { state: 'pending', progress: 0, error: null, updated_at: update.created_at };
    return new Map(update.manifest.target_nodes.map((nodeId) => [nodeId, stored.get(nodeId) ?? pending]));
  }

  getBaseline(updateId: string, nodeId: string): Baseline | undefined {
    return this.#baselines.get(statusKey(updateId, nodeId));
  }

  /** The newest audit entries, newest first. */
  recentAudit(limit: number): AuditEntry[] {
    return [...this.#audit.getRange({ reverse: true, limit })].map(({ value }) => value);
  }

  /** Alerts oldest first (bounded: the active ones and DEFAULT_ALERT_HISTORY_MAX cleared). */
  listAlerts(): AlertRecord[] {
    return [...this.#alerts.getRange()].map(({ value }) => value);
  }

  getAlert(id: string): AlertRecord | undefined {
    const key = Number(id);
    return Number.isSafeInteger(key) ? this.#alerts.get(key) : undefined;
  }

  /** The next alert id, taken now (before the transaction that stores the alert), so an
   * alert raised has its id at once; an id whose transaction fails is never used. */
  reserveAlertId(): string {
    return String(this.#alertNext++);
  }

  /** The newest `limit` samples of `nodeId` taken after `afterMs`, oldest first. */
  metricsOf(nodeId: string, afterMs: number, limit: number): MetricsSample[] {
    // Backwards from the newest; `end` is exclusive: a sample at `afterMs` is not after it.
    const range = this.#metrics.getRange({ start: metricsKey(nodeId, METRICS_END), end: metricsKey(nodeId, afterMs), reverse: true, limit });
    return [...range].map(({ value }) => value).reverse();
  }

  /** The times (epoch ms) of the samples kept for `nodeId`, oldest first. */
  metricsTimes(nodeId: string): number[] {
    return [...this.#metrics.getKeys({ start: metricsKey(nodeId, -METRICS_END), end: metricsKey(nodeId, METRICS_END) })].map((key) => key[1]);
  }

  /** Audit entries with their keys, newest first; with `before`, those older than the
   * entry of that key (a page cursor that stays valid while entries are added). */
  *auditBefore(before?: number): Generator<{ key: number; entry: AuditEntry }> {
    for (const { key, value } of this.#audit.getRange(before === undefined ? { reverse: true } : { reverse: true, start: before })) {
      if (key !== before) yield { key, entry: value };
    }
  }

  get auditCount(): number {
    return this.#auditCount;
  }

  // ---- writes ----------------------------------------------------------------------

  /**
   * Runs `action` in one LMDB transaction and resolves with its result once the
   * transaction is durable as asked. Transactions run one at a time, so a read-check-write
   * inside one (install gating, status moves) is atomic. LMDB does not roll back what an
   * action wrote before it threw: an action checks first and writes last. A write the
   * disk refuses rejects with StateUnavailable (5.03).
   */
  async atomically<T>(action: (writer: StoreWriter) => T, durability: Durability = 'flushed'): Promise<T> {
    if (this.#closed) throw new StoreError('the state store is closed');
    try {
      const result = await this.#root.transaction(() => action(this.#writer));
      if (durability === 'flushed') await this.#root.flushed;
      return result;
    } catch (error) {
      const failure = await storeWriteError(error, this.#directory);
      if (failure === undefined) throw error;
      // The aborted transaction's audit entries were counted as they were written.
      this.#auditCount = this.#audit.getCount();
      this.#options.onWriteFailure?.(failure);
      throw new StateUnavailable(failure);
    }
  }

  /** Stores a node's newest health report in the unsynced environment: resolves once
   * committed there (no fsync). The caller checked that the node is registered. */
  async putReport(nodeId: string, report: NodeReport): Promise<void> {
    if (this.#closed) throw new StoreError('the state store is closed');
    try {
      await this.#reports.put(nodeId, report);
    } catch (error) {
      const failure = await storeWriteError(error, join(this.#directory, REPORTS_DIRECTORY));
      if (failure === undefined) throw error;
      this.#options.onWriteFailure?.(failure);
      throw new StateUnavailable(failure);
    }
  }

  /** Runs `action` in one transaction of the reports environment and resolves once it is
   * committed there (never synced). Durable reads (getNode) inside see committed state: a
   * decommission, committed before its history is removed here, is seen. */
  async reportsAtomically<T>(action: (writer: ReportsWriter) => T): Promise<T> {
    if (this.#closed) throw new StoreError('the state store is closed');
    try {
      return await this.#reportsRoot.transaction(() => action(this.#reportsWriter));
    } catch (error) {
      const failure = await storeWriteError(error, join(this.#directory, REPORTS_DIRECTORY));
      if (failure === undefined) throw error;
      this.#options.onWriteFailure?.(failure);
      throw new StateUnavailable(failure);
    }
  }

  readonly #reportsWriter: ReportsWriter = {
    putMetrics: (nodeId, at, sample) => { this.#metrics.putSync(metricsKey(nodeId, at), sample); },
    removeMetrics: (nodeId, times) => {
      for (const at of times) this.#metrics.removeSync(metricsKey(nodeId, at));
    },
  };

  /** Transactions committed so far in each environment (LMDB's last transaction id): the
   * durable one is synced at each of its commits, the reports one never. */
  transactions(): { durable: number; reports: number } {
    const lastTxnId = (root: RootDatabase): number => (root.getStats() as { lastTxnId: number }).lastTxnId;
    return { durable: lastTxnId(this.#root), reports: lastTxnId(this.#reportsRoot) };
  }

  /** One audit entry on its own, committed but not awaited to disk (denials, offline). */
  async audit(entry: AuditEntry): Promise<void> {
    await this.atomically((writer) => writer.audit(entry), 'committed');
  }

  /** Waits for every write so far to reach the disk, then closes the environment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A last commit the disk refused was answered already (StateUnavailable).
    await Promise.resolve(this.#root.flushed).catch(() => {});
    await this.#root.close();
    await this.#reportsRoot.close();
  }

  readonly #writer: StoreWriter = {
    putNode: (record) => { this.#nodes.putSync(record.registration.node_id, record); },
    removeNode: (nodeId) => {
      // The report goes in its own environment's transaction, at once (no fsync to wait for).
      this.#reports.removeSync(nodeId);
      return this.#nodes.removeSync(nodeId);
    },
    putUpdate: (record) => { this.#updates.putSync(record.manifest.update_id, record); },
    putStatus: (updateId, nodeId, status) => { this.#statuses.putSync(statusKey(updateId, nodeId), status); },
    putBootstrap: (record) => { this.#bootstraps.putSync(record.identity, record); },
    removeBootstrap: (identity) => { this.#bootstraps.removeSync(identity); },
    putRevocation: (record) => { this.#revocations.putSync(revocationKey(record.kind, record.value), record); },
    putBaseline: (updateId, nodeId, baseline) => { this.#baselines.putSync(statusKey(updateId, nodeId), baseline); },
    putAlert: (alert) => {
      this.#alerts.putSync(Number(alert.id), alert);
      if (alert.cleared_at === null) return;
      const cleared = [...this.#alerts.getRange()].filter(({ value }) => value.cleared_at !== null);
      const excess = cleared.length - (this.#options.alertHistoryMax ?? DEFAULT_ALERT_HISTORY_MAX);
      for (const { key } of cleared.slice(0, Math.max(0, excess))) this.#alerts.removeSync(key);
    },
    audit: (entry) => {
      this.#audit.putSync(this.#auditNext++, entry);
      this.#auditCount++;
      const excess = this.#auditCount - this.#options.auditMaxEntries;
      if (excess > 0) {
        for (const key of [...this.#audit.getKeys({ limit: excess })]) this.#audit.removeSync(key);
        this.#auditCount -= excess;
      }
    },
  };
}

/** The writes an `atomically` action may make; each applies to the open transaction. */
export interface StoreWriter {
  putNode(record: NodeRecord): void;
  removeNode(nodeId: string): boolean;
  putUpdate(record: RolloutRecord): void;
  putStatus(updateId: string, nodeId: string, status: StatusRecord): void;
  putRevocation(record: RevocationRecord): void;
  putBootstrap(record: BootstrapRecord): void;
  removeBootstrap(identity: string): void;
  /** A target's health baseline for a gated rollout, replacing an earlier one. */
  putBaseline(updateId: string, nodeId: string, baseline: Baseline): void;
  audit(entry: AuditEntry): void;
  /** Stores an alert under its id (from reserveAlertId), new or changed; past the history
   * bound the oldest cleared alerts go. */
  putAlert(alert: AlertRecord): void;
}

/** The writes of a `reportsAtomically` action (the metrics history). */
export interface ReportsWriter {
  /** Stores a metrics sample of `nodeId` taken at `at` (epoch ms), replacing one of that time. */
  putMetrics(nodeId: string, at: number, sample: MetricsSample): void;
  /** Removes the samples of `nodeId` taken at these times. */
  removeMetrics(nodeId: string, times: readonly number[]): void;
}

/** The metrics history of a release that kept it in the durable environment, moved to the
 * reports one at the first open (LMDB has no rename across environments). */
function moveMetrics(from: Database<MetricsSample, MetricsKey>, to: Database<MetricsSample, MetricsKey>): void {
  if (from.getCount() === 0) return;
  to.transactionSync(() => { for (const { key, value } of from.getRange()) to.putSync(key, value); });
  from.clearSync();
}

/** Opens the reports environment without fsync (only expendable reports live there),
 * checked as the durable one is (a damaged data.mdb would kill the process on first touch,
 * DESIGN §7) but, being expendable, started afresh when damaged instead of refusing to
 * start: `discarded` says why. */
async function openReports(directory: string): Promise<{ root: RootDatabase; discarded: string | undefined }> {
  const options = { path: directory, maxDbs: 2, noSync: true, eventTurnBatching: false } as const;
  await mkdir(directory, { recursive: true });
  let discarded: string | undefined;
  try {
    await checkStore(directory, { databases: [], added: REPORTS_DATABASES });
    return { root: open(options), discarded };
  } catch (error) {
    discarded = (error as Error).message;
    await rm(directory, { recursive: true, force: true });
    await mkdir(directory, { recursive: true });
    return { root: open(options), discarded };
  }
}

/** `node` with its newest report laid over: the report's health and last_seen when newer
 * than the record's (a registration or status report also moves last_seen, durably). ISO
 * 8601 UTC times of toISOString() compare as strings. */
function withReport(node: NodeRecord, report: NodeReport | undefined): NodeRecord {
  if (report === undefined) return node;
  const newerHealth = node.health_at === null || report.health_at > node.health_at;
  const newerSeen = report.last_seen > node.last_seen;
  if (!newerHealth && !newerSeen) return node;
  return {
    ...node,
    ...(newerHealth ? { health: report.health, health_at: report.health_at } : {}),
    ...(newerSeen ? { last_seen: report.last_seen } : {}),
  };
}
