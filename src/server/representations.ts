// What the gateway's resources answer with (DESIGN §5), built from the stored records: the
// same maps in JSON and CBOR. The rollout state and the counts are computed here from the
// targets' statuses, never stored, so they read the same after a restart.

import { rolloutState } from '../fleet/rollout.js';
import type { Manifest } from '../fleet/manifest.js';
import { countStates, isTerminal, type NodeUpdateState, type NodeUpdateStatus, type RolloutState, type StateCounts } from '../fleet/update-state.js';
import type { HealthView, NodeView, StatusView } from '../fleet/views.js';
import type { NodeRecord, OperatorState, RolloutRecord } from './records.js';

export type Statuses = ReadonlyMap<string, NodeUpdateStatus>;

export const rolloutOf = (update: RolloutRecord, statuses: Statuses): RolloutState =>
  rolloutState(update.operator_state, update.manifest.policy, [...statuses.values()]);

/** An entry of GET /updates: the manifest's own fields, so a node verifies the entry as
 * it is (parseManifest, verifyManifest), with the rollout state and whether the image can
 * be downloaded yet. */
export interface UpdateSummary extends Manifest {
  readonly rollout: RolloutState;
  readonly image_ready: boolean;
  readonly created_at: string;
}

export function updateSummary(update: RolloutRecord, statuses: Statuses): UpdateSummary {
  return { ...update.manifest, rollout: rolloutOf(update, statuses), image_ready: update.image_ready, created_at: update.created_at };
}

/** Whether a node's view of GET /updates lists an update: only what the node can still act
 * on, so the list stays as small as the work in hand however long the history grows.
 * Nothing once the node's own state is final; a running or paused rollout, to take up
 * or go on with; a cancelled or aborted one only while the node is mid-way in it (past
 * `pending`), so it hears to stop and report, and then it drops out. A completed
 * rollout has every target final already. */
export function listedForNode(rollout: RolloutState, own: NodeUpdateState): boolean {
  if (isTerminal(own)) return false;
  return rollout === 'active' || rollout === 'paused' || own !== 'pending';
}

/** GET /updates for an operator: one page in update id order; `next` is the `after`
 * cursor of the following page, null on the last. */
export interface UpdatePage {
  readonly updates: readonly UpdateSummary[];
  readonly next: string | null;
}

/** GET /updates/{id}: the summary with how the operator left it and the counts per state. */
export interface UpdateDetail extends UpdateSummary {
  readonly operator_state: OperatorState;
  readonly created_by: string;
  readonly targets: number;
  readonly counts: StateCounts;
}

export function updateDetail(update: RolloutRecord, statuses: Statuses): UpdateDetail {
  return {
    ...updateSummary(update, statuses), operator_state: update.operator_state, created_by: update.created_by,
    targets: update.manifest.target_nodes.length, counts: countStates(statuses.values()),
  };
}

export function statusView(update: RolloutRecord, statuses: Statuses): StatusView {
  return {
    update_id: update.manifest.update_id, rollout: rolloutOf(update, statuses), counts: countStates(statuses.values()),
    nodes: Object.fromEntries(statuses),
  };
}

export function nodeView(node: NodeRecord, online: boolean): NodeView {
  const { node_id, version, hardware, agent_port } = node.registration;
  return {
    node_id, version, hardware, agent_port, registered_at: node.registered_at, last_seen: node.last_seen, online, health: node.health,
    link: node.link ?? null,
  };
}

export const healthView = (node: NodeRecord, online: boolean): HealthView => ({
  node_id: node.registration.node_id, online, last_seen: node.last_seen, health: node.health, health_at: node.health_at,
});
