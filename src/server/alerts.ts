// The gateway's alerts (issue 11): the evaluator of alert-rules.ts applied to what the
// gateway hears of its nodes (health samples, presence flips, update status reports),
// the alerts kept in the state store (active ones always, cleared ones up to a bound) and
// the observers of /alerts told of every change. The active alerts are read from the store
// inside the transaction that writes the evaluation, so two reports of one node never
// raise the same alert twice. How long a value has been over its threshold is kept in
// memory only: after a restart it must hold for the rule's duration again.

import { gatewayPath } from '../fleet/paths.js';
import type { Logger } from '../protocol/interfaces.js';
import {
  acknowledge, DEFAULT_RULES, evaluate, type AlertKind, type AlertRecord, type AlertRules, type NodeAlertState, type Observation,
  type ThresholdKind,
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

export class Alerts {
  readonly #store: GatewayStore;
  readonly #options: AlertsOptions;
  /** Per node, since when each threshold rule's value has been over it. Bounded by the
   * registered nodes × the rules; a node's entry goes when it is decommissioned. */
  readonly #overSince = new Map<string, Partial<Record<ThresholdKind, number>>>();

  constructor(store: GatewayStore, options: AlertsOptions) {
    this.#store = store;
    this.#options = options;
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

  /** Applies one observation of `nodeId`; the store refusing the write is logged, not
   * thrown: the request that brought the observation has been answered on its own merits. */
  async observe(nodeId: string, observation: Observation): Promise<void> {
    try {
      const changed = await this.#store.atomically((writer) => {
        const evaluation = evaluate(nodeId, this.#stateOf(nodeId), observation, this.#options.rules ?? DEFAULT_RULES);
        this.#overSince.set(nodeId, { ...evaluation.state.overSince });
        const at = new Date(observation.at).toISOString();
        for (const alert of evaluation.clear) {
          writer.putAlert(alert);
          writer.audit({ at, who: 'gateway', action: 'alert.clear', target: gatewayPath.alert(alert.id), detail: `${alert.kind} ${nodeId}` });
        }
        const raised = evaluation.raise.map((alert) => writer.addAlert(alert));
        for (const alert of raised) {
          writer.audit({ at, who: 'gateway', action: 'alert.raise', target: gatewayPath.alert(alert.id), detail: `${alert.kind} ${nodeId}: ${alert.detail}` });
        }
        return { raised, cleared: evaluation.clear };
      });
      for (const alert of changed.raised) this.#options.logger.info({ alert: alert.id, node: nodeId, kind: alert.kind, detail: alert.detail }, 'alert raised');
      for (const alert of changed.cleared) this.#options.logger.info({ alert: alert.id, node: nodeId, kind: alert.kind }, 'alert cleared');
      if (changed.raised.length + changed.cleared.length > 0) this.#options.onChange();
    } catch (error) {
      this.#options.logger.error({ err: error, node: nodeId, observation: observation.type }, 'alerts not evaluated');
    }
  }

  /** The node went offline or came back. */
  presenceChanged(nodeId: string, online: boolean): Promise<void> {
    return this.observe(nodeId, { type: 'presence', at: this.#options.now().getTime(), online });
  }

  /** The node reported a new state for an update. */
  reported(nodeId: string, updateId: string, state: string, error: string | null): Promise<void> {
    return this.observe(nodeId, { type: 'status', at: this.#options.now().getTime(), update_id: updateId, state, error });
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
    this.#options.onChange();
    return record;
  }

  /** The node is decommissioned: its pending durations go (its alerts stay as history). */
  forget(nodeId: string): void {
    this.#overSince.delete(nodeId);
  }

  #stateOf(nodeId: string): NodeAlertState {
    const active: Partial<Record<AlertKind, AlertRecord>> = {};
    for (const alert of this.#store.listAlerts()) {
      if (alert.node_id === nodeId && alert.cleared_at === null) active[alert.kind] = alert;
    }
    return { active, overSince: this.#overSince.get(nodeId) ?? {} };
  }
}
