// The gateway's side of health-gated waves (fleet/health-gate.ts): when a target of a
// later wave asks to install once the wave before has ended and baked, that wave is judged
// once on the metrics the gateway keeps: each updated target's samples since it installed
// and alerts against the baseline taken at its grant. Read-only; the rollout manager writes
// the outcome.

import { healthBreach, MAX_GATE_SAMPLES, type HealthEvidence } from '../fleet/health-gate.js';
import { waveEnds, waveProgress } from '../fleet/rollout-plan.js';
import type { RolloutRecord } from './records.js';
import type { Statuses } from './representations.js';
import type { GatewayStore } from './store.js';

/** The wave (1-based) just before `nodeId`'s and its verdict, when it is due now: the
 * policy has a health gate, no breach stands, the wave ended and baked, and it was not
 * judged (or let through) before. Undefined when nothing is due. */
export function judgeWaveBefore(
  store: GatewayStore, update: RolloutRecord, statuses: Statuses, nodeId: string, now: number, at: string,
): { readonly wave: number; readonly evidence: HealthEvidence | undefined } | undefined {
  const { policy, target_nodes: targets, update_id: updateId } = update.manifest;
  const gate = policy.health_gate;
  if (gate === undefined || update.health_breach !== undefined) return undefined;
  const index = targets.indexOf(nodeId);
  const ends = waveEnds(policy.waves, targets.length);
  const own = ends.findIndex((end) => index < end);
  if (own <= 0 || (update.health_passed_waves ?? []).includes(own)) return undefined;
  const progress = waveProgress(policy, targets.map((id) => statuses.get(id)!), now);
  if (progress.waves[own - 1]!.state !== 'done') return undefined;
  const members = targets.slice(own >= 2 ? ends[own - 2]! : 0, ends[own - 1]);
  const gated = members.filter((id) => statuses.get(id)!.state === 'installed').map((id) => ({
    node: id, baseline: store.getBaseline(updateId, id),
    after: store.metricsOf(id, Date.parse(statuses.get(id)!.updated_at), MAX_GATE_SAMPLES), activeAlerts: activeAlertsOf(store, id),
  }));
  return { wave: own, evidence: healthBreach(gate, own, gated, at) };
}

/** How many alerts of `nodeId` are active (alerts are bounded: the active ones and a
 * capped history of cleared ones, store.ts). */
export const activeAlertsOf = (store: GatewayStore, nodeId: string): number =>
  store.listAlerts().filter((alert) => alert.node_id === nodeId && alert.cleared_at === null).length;
