// Status reports to PUT /updates/{id}/status (DESIGN §5). Latest wins: the gateway takes
// any forward move (update-state.ts acceptsReport), so when reports queue up behind a slow
// or absent gateway only the newest is sent. A terminal state is sent until the gateway
// acknowledges it, also across restarts (the acknowledgement is persisted), and then never
// again: each outcome is reported once. A 4.09 to a report the agent has itself moved past
// is a late report, not a conflict: the gateway has a later state already (the install
// grant moves it to `installing`) and takes only forward moves. A state change goes in a
// CON until acknowledged; progress within `downloading` goes in a NON (RFC 7252 §5.2.3),
// sent once: a lost one is superseded by the next, and it never holds a block request
// behind NSTART (§4.7 counts CONs only).

import { codeClass, describeCode, ResponseCode } from '../protocol/codes.js';
import { comesBefore, isTerminal, type NodeUpdateState } from '../fleet/update-state.js';
import type { StatusReport } from '../fleet/schemas.js';
import type { Clock } from '../protocol/interfaces.js';
import type { GatewayLink } from './gateway-link.js';
import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';
import type { UpdateStore } from './interfaces.js';
import type { NodeUpdateRecord } from './store.js';
import { sleep } from './sleep.js';

const MAX_ERROR_LENGTH = 512;
/** How long a NON progress report waits for its answer (RFC 7252's ACK_TIMEOUT): no answer
 * by then means lost, and the next report goes. One report is in flight at a time, so this
 * also paces them on a link that loses them. */
export const PROGRESS_ANSWER_WAIT_MS = 2000;
const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000] as const;

/** The transfer figures go with the states of the download only. */
const TRANSFER_STATES: ReadonlySet<NodeUpdateState> = new Set(['downloading', 'downloaded']);

export const statusOf = (record: NodeUpdateRecord): StatusReport => ({
  state: record.state,
  progress: Math.min(1, Math.max(0, record.progress)),
  error: record.error === null ? null : record.error.slice(0, MAX_ERROR_LENGTH),
  ...(record.transfer !== undefined && TRANSFER_STATES.has(record.state) ? { transfer: record.transfer } : {}),
});

const sameReport = (a: StatusReport, b: StatusReport): boolean => a.state === b.state && a.progress === b.progress && a.error === b.error
  && JSON.stringify(a.transfer) === JSON.stringify(b.transfer);

export class StatusReporter {
  readonly #gateway: GatewayLink;
  readonly #store: UpdateStore;
  readonly #log: AgentLogger;
  /** The back-off between attempts. */
  readonly #clock: Clock;
  /** Per update, the newest report not yet sent. Entries removed when taken by the pump. */
  readonly #latest = new Map<string, StatusReport>();
  /** Per update, the report in flight (or just acknowledged). */
  readonly #sending = new Map<string, StatusReport>();
  /** Per update, the state the gateway last acknowledged: a report in that same state
   * (progress) goes NON. Removed with a terminal state. */
  readonly #acknowledged = new Map<string, StatusReport['state']>();
  /** Updates whose pump is running; at most one per update. */
  readonly #pumps = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();

  constructor(gateway: GatewayLink, store: UpdateStore, log: AgentLogger, clock: Clock) {
    this.#gateway = gateway;
    this.#store = store;
    this.#log = log;
    this.#clock = clock;
  }

  report(record: NodeUpdateRecord): void {
    if (this.#stop.signal.aborted) return;
    const status = statusOf(record);
    // The same report as the one on its way: one delivery is enough.
    const sending = this.#sending.get(record.updateId);
    if (!this.#latest.has(record.updateId) && sending !== undefined && sameReport(sending, status)) return;
    this.#latest.set(record.updateId, status);
    if (this.#pumps.has(record.updateId)) return;
    const pump = this.#pump(record.updateId).finally(() => this.#pumps.delete(record.updateId));
    this.#pumps.set(record.updateId, pump);
  }

  /** Resolves when nothing is waiting to be sent (tests, and a clean stop). */
  async idle(): Promise<void> {
    while (this.#pumps.size > 0) await Promise.all(this.#pumps.values());
  }

  /** Abandons what is unsent: terminal states are sent again at the next start. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled(this.#pumps.values());
  }

  async #pump(updateId: string): Promise<void> {
    let failures = 0;
    for (;;) {
      const report = this.#latest.get(updateId);
      if (report === undefined || this.#stop.signal.aborted) return;
      this.#latest.delete(updateId);
      this.#sending.set(updateId, report);
      const sent = await this.#send(updateId, report);
      if (!sent) this.#sending.delete(updateId);
      if (sent) {
        failures = 0;
        continue;
      }
      // Unsent: put it back unless a newer one arrived meanwhile, and wait a little.
      if (!this.#latest.has(updateId)) this.#latest.set(updateId, report);
      const delay = BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)]!;
      try {
        await sleep(delay, this.#stop.signal, this.#clock);
      } catch {
        return;
      }
    }
  }

  /** Whether the agent is past `report` already: its record, or a report queued behind it. */
  #movedPast(updateId: string, report: StatusReport): boolean {
    const newer = [this.#latest.get(updateId)?.state, this.#store.update(updateId)?.state];
    return newer.some((state) => state !== undefined && comesBefore(report.state, state));
  }

  /** True when this report needs no further sending: acknowledged, refused for good, or
   * progress sent once. */
  async #send(updateId: string, report: StatusReport): Promise<boolean> {
    const progress = report.state === 'downloading' && report.error === null && this.#acknowledged.get(updateId) === report.state;
    let code: number | undefined;
    try {
      code = progress
        ? await this.#gateway.putProgress(updateId, report, PROGRESS_ANSWER_WAIT_MS, this.#stop.signal)
        : await this.#gateway.putStatus(updateId, report, this.#stop.signal);
    } catch (error) {
      this.#log.debug({ update_id: updateId, state: report.state, err: error }, 'status report not delivered');
      return false;
    }
    if (code === undefined) {
      this.#log.debug({ update_id: updateId, progress: report.progress }, 'progress report lost or unanswered: the next one supersedes it');
      return true;
    }
    if (codeClass(code) === 5) return progress;
    if (codeClass(code) === 2) {
      this.#acknowledged.set(updateId, report.state);
      this.#log.debug({ update_id: updateId, state: report.state, progress: report.progress, confirmable: !progress }, 'status reported');
    } else if (code === ResponseCode.Conflict && this.#movedPast(updateId, report)) {
      this.#log.debug({ update_id: updateId, state: report.state }, 'late status report refused: the gateway has a later state');
    } else {
      // 4.xx: the gateway will never take this report (unknown update, not ours): retrying
      // would not change its mind.
      this.#log.warn({ update_id: updateId, state: report.state, code: describeCode(code) }, 'status report refused');
    }
    if (isTerminal(report.state)) {
      this.#acknowledged.delete(updateId);
      await this.#store.markReported(updateId, report.state);
    }
    return true;
  }
}
