// The gateway's alerts (issue 11): the evaluator of alert-rules.ts applied to what the
// gateway hears of its nodes (health and metrics samples, presence flips, update status
// reports), with the rules the configuration gives (changed at run time by setRules),
// the alerts kept in the state store (active ones always, cleared ones up to a bound) and
// the observers of /alerts told of every change.
//
// Every sample is evaluated, so the evaluation reads memory, not the store: the
// active alerts by node (loaded at start, changed here only, synchronously, before the
// write that stores the change, so two reports in flight never raise the same alert
// twice) and since when each value has been over its threshold (memory only: after a
// restart it must hold for the rule's duration again). A sample that changes nothing
// writes nothing. A write the store refuses reloads the node's alerts from the store.

import { gatewayPath } from '../fleet/paths.js';
import type { Logger } from '../protocol/interfaces.js';
import {
  acknowledge, alertKey, DEFAULT_RULES, evaluate, type AlertRecord, type AlertRules, type Observation,
} from './alert-rules.js';
import { notFound } from './replies.js';
import type { GatewayStore } from './store.js';

export interface AlertsOptions {
  readonly rules?: AlertRules;
  readonly now: () => Date;
  readonly logger: Logger;
  /** The alerts changed (observers of /alerts). */
  readonly onChange: () => void;
}

/** A node's active alerts by alertKey (kind, and mount for disk). */
type ActiveAlerts = Record<string, AlertRecord>;

export class Alerts {
  readonly #store: GatewayStore;
  readonly #options: AlertsOptions;
  #rules: AlertRules;
  /** Per node, its active alerts by key. Bounded by the registered nodes × the kinds and
   * mounts (a decommissioned node's alerts are cleared; mounts per sample are bounded). */
  readonly #active = new Map<string, ActiveAlerts>();
  /** Per node, since when each threshold rule's value has been over it. Bounded likewise. */
  readonly #overSince = new Map<string, Record<string, number>>();

  constructor(store: GatewayStore, options: AlertsOptions) {
    this.#store = store;
    this.#options = options;
    this.#rules = options.rules ?? DEFAULT_RULES;
    for (const alert of store.listAlerts()) if (alert.cleared_at === null) this.#activeOf(alert.node_id)[alertKey(alert)] = alert;
  }

  /** New thresholds from now on (a config change); a value over a threshold keeps its
   * start, and an alert raised stays raised until its new clear_below. */
  setRules(rules: AlertRules): void {
    this.#rules = rules;
  }

  /** Active alerts, and with `all` the cleared ones kept too; newest first. */
  list(which: 'active' | 'all'): AlertRecord[] {
    const alerts = this.#store.listAlerts().reverse();
    return which === 'all' ? alerts : alerts.filter((alert) => alert.cleared_at === null);
  }

  get(id: string): AlertRecord {
    const alert = this.#store.getAlert(id);
    if (alert === undefined) throw notFound(`alert ${id}`);
    return alert;
  }

  /** Applies one observation of `nodeId`. A refused write is logged, not thrown: the
   * request that brought the observation is answered on its own merits. */
  async observe(nodeId: string, observation: Observation): Promise<void> {
    const active = this.#activeOf(nodeId);
    const evaluation = evaluate(nodeId, { active, overSince: this.#overSince.get(nodeId) ?? {} }, observation, this.#rules);
    this.#overSince.set(nodeId, { ...evaluation.state.overSince });
    if (evaluation.raise.length + evaluation.clear.length === 0) return;
    const raised = evaluation.raise.map((alert): AlertRecord => ({ ...alert, id: this.#store.reserveAlertId() }));
    for (const alert of evaluation.clear) delete active[alertKey(alert)];
    for (const alert of raised) active[alertKey(alert)] = alert;
    await this.#write(nodeId, new Date(observation.at).toISOString(), raised, evaluation.clear);
  }

  /** The node went offline or came back. */
  presenceChanged(nodeId: string, online: boolean): Promise<void> {
    return this.observe(nodeId, { type: 'presence', at: this.#options.now().getTime(), online });
  }

  /** A metrics sample of the node: its disks. */
  metrics(nodeId: string, at: number, disks: readonly { readonly mount: string; readonly used_percent: number }[]): Promise<void> {
    return this.observe(nodeId, { type: 'metrics', at, disks });
  }

  /** The node registered from an agent that started at `started`, after one that started
   * at `previous`. */
  agentStarted(nodeId: string, previous: string, started: string): Promise<void> {
    return this.observe(nodeId, { type: 'agent-start', at: this.#options.now().getTime(), previous, started });
  }

  /** The node reported a new state for an update. */
  reported(nodeId: string, updateId: string, state: string, error: string | null): Promise<void> {
    return this.observe(nodeId, { type: 'status', at: this.#options.now().getTime(), update_id: updateId, state, error });
  }

  /** The node is decommissioned: its active alerts are cleared (nothing will ever clear
   * them otherwise), its durations forgotten. */
  async forget(nodeId: string): Promise<void> {
    const now = this.#options.now().toISOString();
    const cleared = Object.values(this.#activeOf(nodeId)).map((alert) => ({ ...alert, cleared_at: now }));
    this.#active.delete(nodeId);
    this.#overSince.delete(nodeId);
    if (cleared.length > 0) await this.#write(nodeId, now, [], cleared);
  }

  /** An operator has seen alert `id`; audited. */
  async acknowledge(id: string, who: string): Promise<AlertRecord> {
    const now = this.#options.now();
    const record = await this.#store.atomically((writer) => {
      const next = acknowledge(this.get(id), who, now.getTime());
      writer.putAlert(next);
      writer.audit({ at: now.toISOString(), who, action: 'alert.acknowledge', target: gatewayPath.alert(id), detail: `${next.kind} ${next.node_id}` });
      return next;
    });
    const active = this.#activeOf(record.node_id);
    const key = alertKey(record);
    if (active[key]?.id === record.id) {
      if (record.cleared_at === null) active[key] = record;
      else delete active[key];
    }
    this.#options.onChange();
    return record;
  }

  async #write(nodeId: string, at: string, raised: readonly AlertRecord[], cleared: readonly AlertRecord[]): Promise<void> {
    try {
      await this.#store.atomically((writer) => {
        for (const alert of cleared) {
          // As stored: an acknowledgement may have come since the evaluation read it.
          writer.putAlert({ ...(this.#store.getAlert(alert.id) ?? alert), cleared_at: alert.cleared_at });
          writer.audit({ at, who: 'gateway', action: 'alert.clear', target: gatewayPath.alert(alert.id), detail: `${alert.kind} ${nodeId}` });
        }
        for (const alert of raised) {
          writer.putAlert(alert);
          writer.audit({ at, who: 'gateway', action: 'alert.raise', target: gatewayPath.alert(alert.id), detail: `${alert.kind} ${nodeId}: ${alert.detail}` });
        }
      });
    } catch (error) {
      this.#options.logger.error({ err: error, node: nodeId }, 'alert changes not stored');
      this.#reload(nodeId);
      return;
    }
    for (const alert of raised) this.#options.logger.info({ alert: alert.id, node: nodeId, kind: alert.kind, detail: alert.detail }, 'alert raised');
    for (const alert of cleared) this.#options.logger.info({ alert: alert.id, node: nodeId, kind: alert.kind }, 'alert cleared');
    this.#options.onChange();
  }

  /** The node's active alerts as stored (after a write that did not happen). */
  #reload(nodeId: string): void {
    const active: ActiveAlerts = {};
    for (const alert of this.#store.listAlerts()) if (alert.node_id === nodeId && alert.cleared_at === null) active[alertKey(alert)] = alert;
    this.#active.set(nodeId, active);
  }

  #activeOf(nodeId: string): ActiveAlerts {
    let active = this.#active.get(nodeId);
    if (active === undefined) {
      active = {};
      this.#active.set(nodeId, active);
    }
    return active;
  }
}
