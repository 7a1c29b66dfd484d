// What the gateway keeps (DESIGN §7): the records in its LMDB environment. Plain data, so
// they store as they are and survive a restart unchanged; representations for the wire
// are built from them in representations.ts.

import type { LinkQuality } from '../fleet/link-quality.js';
import type { HealthEvidence } from '../fleet/health-gate.js';
import type { Manifest } from '../fleet/manifest.js';
import type { HealthReport, NodeRegistration } from '../fleet/schemas.js';
import type { NodeUpdateStatus } from '../fleet/update-state.js';

/** A registered node. `last_seen` moves with every registration, health and status report. */
export interface NodeRecord {
  readonly registration: NodeRegistration;
  readonly registered_at: string;
  readonly last_seen: string;
  readonly health: HealthReport | null;
  readonly health_at: string | null;
  /** From the node's latest transfer report; absent until one (and in earlier records). */
  readonly link?: LinkQuality;
  /** Its groups (fleet/node-tags.ts); absent from records of earlier releases: none. */
  readonly tags?: readonly string[];
}

/** What a health report changes in its node's record: kept apart from the record, in the
 * store's unsynced environment (store.ts), and laid over the record when it is read. */
export interface NodeReport {
  readonly health: HealthReport;
  readonly health_at: string;
  readonly last_seen: string;
}

/** How an operator left a rollout; `completed` and `aborted` follow from the targets' states
 * (fleet/rollout.ts) and are never stored, so they are recomputed the same after a restart. */
export type OperatorState = 'active' | 'paused' | 'cancelled';

/** An update as the gateway keeps it: its manifest and how its rollout stands (the
 * agent keeps its own record of the update it installs, in src/agent). */
export interface RolloutRecord {
  /** As created; `policy` is the current one (it is not signed and operators change it). */
  readonly manifest: Manifest;
  readonly operator_state: OperatorState;
  /** The image is in the firmware store, checked against the manifest. */
  readonly image_ready: boolean;
  readonly created_at: string;
  readonly created_by: string;
  /** A health-gated rollout stopped at a wave: why (fleet/health-gate.ts); cleared by resume. */
  readonly health_breach?: HealthEvidence;
  /** Waves (1-based) whose health the gateway judged: passed, or let through by a resume. */
  readonly health_passed_waves?: readonly number[];
}

/** One node's progress on one update, as it last reported it. */
export type StatusRecord = NodeUpdateStatus;

/** Who did what, when: operator actions, registrations, install grants, final reports and
 * every denied request. Bounded by count; the oldest go first. */
export interface AuditEntry {
  readonly at: string;
  /** "operator:alice", "node:n1", "local", or "anonymous@ADDRESS:PORT". */
  readonly who: string;
  /** A dotted verb: "update.create", "node.register", "access.denied"… */
  readonly action: string;
  /** The resource acted on, as a path. */
  readonly target: string;
  readonly detail?: string;
}
