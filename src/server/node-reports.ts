// What the gateway does with a node's reports, however they came: a health sample (the
// node's PUT /nodes/{id}/health, or a notification of its agent's /health that the gateway
// observes) and metrics samples (PUT /nodes/{id}/metrics, or a notification of its
// /metrics). One path each, so a pushed and an observed sample count the same: stored,
// the node seen, the alert rules applied, the observers told.

import { gatewayPath } from '../fleet/paths.js';
import type { HealthReport, MetricsBody } from '../fleet/schemas.js';
import type { Alerts } from './alerts.js';
import type { MetricsHistory } from './metrics-history.js';
import type { Presence } from './presence.js';
import { notFound } from './replies.js';
import type { GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';

export interface NodeReportsContext {
  readonly store: GatewayStore;
  readonly presence: Presence;
  readonly alerts: Alerts;
  readonly history: MetricsHistory;
  readonly router: GatewayRouter;
  readonly now: () => Date;
}

export class NodeReports {
  readonly #context: NodeReportsContext;

  constructor(context: NodeReportsContext) {
    this.#context = context;
  }

  /** One health sample of `nodeId`; 4.04 when the node is not registered. */
  async health(nodeId: string, health: HealthReport): Promise<void> {
    const { store, presence, alerts, router, now } = this.#context;
    const at = now().toISOString();
    const node = store.getNode(nodeId);
    if (node === undefined) throw notFound(`node ${nodeId} (register first)`);
    const previous = node.health;
    // A sample lost in a power cut is replaced by the next one: not synced (store.ts).
    await store.putReport(nodeId, { health, health_at: at, last_seen: at });
    presence.seen(nodeId);
    router.notify(gatewayPath.node(nodeId), gatewayPath.health(nodeId));
    // The sample's own time: a rule's duration is the node's, not the network's delay.
    await alerts.observe(nodeId, {
      type: 'health', at: Date.parse(health.timestamp), cpu_percent: health.cpu_percent, memory_percent: health.memory_percent,
      temperature: health.temperature, uptime_s: health.uptime_s, ...(previous === null ? {} : { previousUptimeS: previous.uptime_s }),
    });
  }

  /** Metrics samples of `nodeId`, into its history; the new ones through the disk rule.
   * 4.04 when the node is not registered. */
  async metrics(nodeId: string, body: MetricsBody): Promise<void> {
    const { alerts, history, router } = this.#context;
    const fresh = await history.append(nodeId, body.samples, body.interval_s);
    if (fresh.length === 0) return;
    router.notify(gatewayPath.metrics(nodeId));
    for (const sample of fresh) await alerts.metrics(nodeId, Date.parse(sample.at), sample.disks);
  }
}
