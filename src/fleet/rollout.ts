// Rollout gating (DESIGN §5, issue 13): whether a target may install now, and what the
// rollout as a whole has become. Pure functions of the policy, the per-node states (in
// target order), the time and the node's maintenance window, so the gateway decides the
// same way after a restart.

import type { MaintenanceWindow } from './maintenance-window.js';
import type { UpdatePolicy } from './manifest.js';
import { waveGate, waveOverThreshold, waveProgress, windowGate } from './rollout-plan.js';
import { countStates, type NodeUpdateStatus, type RolloutState } from './update-state.js';

/** The rollout state that follows from the targets' states (in target order), given how an
 * operator left it (`active`, `paused` or `cancelled`): aborted at the overall failure
 * threshold or at one wave's. */
export function rolloutState(
  operatorState: 'active' | 'paused' | 'cancelled', policy: UpdatePolicy, statuses: readonly NodeUpdateStatus[],
): RolloutState {
  if (operatorState === 'cancelled') return 'cancelled';
  const counts = countStates(statuses);
  if (counts.failed + counts.rolled_back >= policy.failure_threshold) return 'aborted';
  if (waveOverThreshold(policy, statuses) !== undefined) return 'aborted';
  if (statuses.length > 0 && counts.installed + counts.failed + counts.rolled_back === statuses.length) return 'completed';
  return operatorState;
}

export type InstallDecision =
  | { readonly go: true }
  | { readonly go: false; readonly retryAfterSeconds: number; readonly reason: string; readonly final: boolean };

/** What decideInstall needs beyond the states: the time and the node's own window. */
export interface InstallContext {
  /** Epoch ms. */
  readonly now: number;
  /** The node's maintenance window (rollout-plan.ts windowFor); none: any time. */
  readonly window?: MaintenanceWindow | undefined;
}

/**
 * May `nodeId` install now? No when the rollout is not active, when `max_parallel_installs`
 * targets are installing already, while canaries (the first `canary` targets) are not
 * all installed and this node is not one of them, while the wave before the node's has
 * not ended and baked, or outside the node's maintenance window (then the answer's
 * retry time reaches the window's start).
 */
export function decideInstall(
  state: RolloutState, policy: UpdatePolicy, targets: readonly string[],
  statuses: ReadonlyMap<string, NodeUpdateStatus>, nodeId: string, context: InstallContext,
): InstallDecision {
  if (state === 'cancelled' || state === 'aborted' || state === 'completed') {
    return { go: false, retryAfterSeconds: 0, reason: `rollout ${state}`, final: true };
  }
  if (state === 'paused') return { go: false, retryAfterSeconds: 30, reason: 'rollout paused', final: false };
  const own = statuses.get(nodeId);
  // A node already installing (asking again after a lost answer) keeps its slot.
  if (own?.state === 'installing') return { go: true };
  const ordered = targets.map((id) => statuses.get(id)!);
  const wave = waveGate(waveProgress(policy, ordered, context.now), targets.indexOf(nodeId), context.now);
  if (!wave.go) return { ...wave, final: false };
  const window = windowGate(context.window, context.now);
  if (!window.go) return { ...window, final: false };
  let installing = 0;
  for (const status of statuses.values()) if (status.state === 'installing') installing++;
  if (installing >= policy.max_parallel_installs) {
    return { go: false, retryAfterSeconds: 5, reason: `${installing} installing, at most ${policy.max_parallel_installs}`, final: false };
  }
  const canaries = targets.slice(0, policy.canary);
  if (canaries.length > 0 && !canaries.includes(nodeId)) {
    const waiting = canaries.filter((id) => statuses.get(id)?.state !== 'installed');
    if (waiting.length > 0) return { go: false, retryAfterSeconds: 10, reason: `waiting for canaries ${waiting.join(', ')}`, final: false };
  }
  return { go: true };
}
