// What the gateway's resources answer with (DESIGN §5), built from the stored records: the
// same maps in JSON and CBOR. The rollout state and the counts are computed here from the
// targets' statuses, never stored, so they read the same after a restart.

import { rolloutState } from '../fleet/rollout.js';
import { waveProgress, type WaveView } from '../fleet/rollout-plan.js';
import { countStates, isTerminal, type NodeUpdateState, type NodeUpdateStatus, type RolloutState } from '../fleet/update-state.js';
import type { HealthView, NodeView, StatusView, UpdateDetail, UpdateSummary } from '../fleet/views.js';
import type { NodeRecord, RolloutRecord } from './records.js';

export type { UpdateDetail, UpdatePage, UpdateSummary } from '../fleet/views.js';

export type Statuses = ReadonlyMap<string, NodeUpdateStatus>;

/** A health gate's abort (fleet/health-gate.ts) ends the rollout as a failure threshold does. */
export const rolloutOf = (update: RolloutRecord, statuses: Statuses): RolloutState =>
  (update.health_breach?.action === 'abort' && update.operator_state !== 'cancelled' ? 'aborted'
    : rolloutState(update.operator_state, update.manifest.policy, [...statuses.values()]));

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

export function updateDetail(update: RolloutRecord, statuses: Statuses, now: number): UpdateDetail {
  return {
    ...updateSummary(update, statuses), operator_state: update.operator_state, created_by: update.created_by,
    targets: update.manifest.target_nodes.length, counts: countStates(statuses.values()),
    ...wavesOf(update, statuses, now),
    ...(update.health_breach === undefined ? {} : { health_breach: update.health_breach }),
  };
}

export function statusView(update: RolloutRecord, statuses: Statuses, now: number): StatusView {
  return {
    update_id: update.manifest.update_id, rollout: rolloutOf(update, statuses), counts: countStates(statuses.values()),
    nodes: Object.fromEntries(statuses),
    ...wavesOf(update, statuses, now),
    ...(update.health_breach === undefined ? {} : { health_breach: update.health_breach }),
  };
}

/** The waves' progress at `now` (epoch ms), when the policy has waves. */
const wavesOf = (update: RolloutRecord, statuses: Statuses, now: number): { waves?: readonly WaveView[] } =>
  (update.manifest.policy.waves === undefined ? {} : { waves: waveProgress(update.manifest.policy, [...statuses.values()], now).waves });

export function nodeView(node: NodeRecord, online: boolean): NodeView {
  const { node_id, version, hardware, agent_port } = node.registration;
  return {
    node_id, version, hardware, agent_port, registered_at: node.registered_at, last_seen: node.last_seen, online, health: node.health,
    link: node.link ?? null,
    tags: node.tags ?? [],
  };
}

export const healthView = (node: NodeRecord, online: boolean): HealthView => ({
  node_id: node.registration.node_id, online, last_seen: node.last_seen, health: node.health, health_at: node.health_at,
});
