// The gateway's representations that its clients read (the operator's tools, the
// dashboard): the shapes of GET /updates/{id}/status, /nodes and /nodes/{id}/health, so a
// client never imports the gateway to know them. src/server/representations.ts builds them.

import type { LinkQuality } from './link-quality.js';
import type { HealthEvidence } from './health-gate.js';
import type { Manifest } from './manifest.js';
import type { WaveView } from './rollout-plan.js';
import type { HealthReport } from './schemas.js';
import type { NodeUpdateStatus, RolloutState, StateCounts } from './update-state.js';

/** GET /updates/{id}/status: every target's entry by node id, and the aggregate. */
export interface StatusView {
  readonly update_id: string;
  readonly rollout: RolloutState;
  readonly counts: StateCounts;
  readonly nodes: Readonly<Record<string, NodeUpdateStatus>>;
  /** With a policy that has waves: each wave's progress (fleet/rollout-plan.ts). */
  readonly waves?: readonly WaveView[];
  /** The health gate stopped the rollout: why (fleet/health-gate.ts). */
  readonly health_breach?: HealthEvidence;
}

/** An entry of GET /updates: the manifest's own fields, so a node verifies the entry as
 * it is (parseManifest, verifyManifest), with the rollout state and whether the image can
 * be downloaded yet. */
export interface UpdateSummary extends Manifest {
  readonly rollout: RolloutState;
  readonly image_ready: boolean;
  readonly created_at: string;
}

/** GET /updates for an operator: one page in update id order; `next` is the `after`
 * cursor of the following page, null on the last. */
export interface UpdatePage {
  readonly updates: readonly UpdateSummary[];
  readonly next: string | null;
}

/** GET /updates/{id}: the summary with how the operator left it, the counts per state and,
 * with a policy that has waves, each wave's progress. */
export interface UpdateDetail extends UpdateSummary {
  readonly operator_state: 'active' | 'paused' | 'cancelled';
  readonly created_by: string;
  readonly targets: number;
  readonly counts: StateCounts;
  readonly waves?: readonly WaveView[];
  readonly health_breach?: HealthEvidence;
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
  readonly tags: readonly string[];
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
