// The gateway's representations that its clients read (the operator's tools, the
// dashboard): the shapes of GET /updates/{id}/status, /nodes and /nodes/{id}/health, so a
// client never imports the gateway to know them. src/server/representations.ts builds them.

import type { LinkQuality } from './link-quality.js';
import type { HealthReport } from './schemas.js';
import type { NodeUpdateStatus, RolloutState, StateCounts } from './update-state.js';

/** GET /updates/{id}/status: every target's entry by node id, and the aggregate. */
export interface StatusView {
  readonly update_id: string;
  readonly rollout: RolloutState;
  readonly counts: StateCounts;
  readonly nodes: Readonly<Record<string, NodeUpdateStatus>>;
}

/** An entry of GET /nodes, and GET /nodes/{id}. */
export interface NodeView {
  readonly node_id: string;
  readonly version: string;
  readonly hardware: string;
  readonly agent_port: number;
  readonly registered_at: string;
  readonly last_seen: string;
  readonly online: boolean;
  readonly health: HealthReport | null;
  /** The node's link quality as of its latest transfer report; null before one. */
  readonly link: LinkQuality | null;
}

/** GET /nodes/{id}/health. */
export interface HealthView {
  readonly node_id: string;
  readonly online: boolean;
  readonly last_seen: string;
  readonly health: HealthReport | null;
  readonly health_at: string | null;
}

export type AlertSeverity = 'warning' | 'critical';

/** An entry of GET /alerts, and GET /alerts/{id} (src/server/alert-rules.ts names the kinds). */
export interface AlertView {
  readonly id: string;
  readonly node_id: string;
  readonly kind: string;
  readonly severity: AlertSeverity;
  readonly raised_at: string;
  readonly cleared_at: string | null;
  readonly acknowledged_by: string | null;
  readonly detail: string;
}

/** An entry of GET /audit: the stored entry and its key, the page cursor. */
export interface AuditView {
  readonly key: number;
  readonly at: string;
  readonly who: string;
  readonly action: string;
  readonly target: string;
  readonly detail?: string;
}

/** GET /audit: entries newest first; `next` is the `?after=` of the following page, null
 * on the last. */
export interface AuditPage {
  readonly entries: readonly AuditView[];
  readonly next: number | null;
}
