// The states of one node's update (DESIGN §5) and of a rollout as a whole. The agent moves
// through them strictly; the gateway accepts any forward move, since a report can be lost
// on the way and the next one still says where the node is.

import type { TransferReport } from './link-quality.js';

export const NODE_UPDATE_STATES = [
  'pending', 'downloading', 'downloaded', 'installing', 'installed', 'failed', 'rolled_back',
] as const;
export type NodeUpdateState = (typeof NODE_UPDATE_STATES)[number];

export const isNodeUpdateState = (value: unknown): value is NodeUpdateState =>
  typeof value === 'string' && (NODE_UPDATE_STATES as readonly string[]).includes(value);

export const isTerminal = (state: NodeUpdateState): boolean =>
  state === 'installed' || state === 'failed' || state === 'rolled_back';

/** The moves an agent makes, one step at a time. */
const NEXT: Readonly<Record<NodeUpdateState, readonly NodeUpdateState[]>> = {
  pending: ['downloading', 'failed'],
  downloading: ['downloading', 'downloaded', 'failed'],
  downloaded: ['installing', 'failed'],
  installing: ['installed', 'failed', 'rolled_back'],
  installed: [],
  failed: [],
  rolled_back: [],
};

export const canTransition = (from: NodeUpdateState, to: NodeUpdateState): boolean => NEXT[from].includes(to);

const RANK: Readonly<Record<NodeUpdateState, number>> = {
  pending: 0, downloading: 1, downloaded: 2, installing: 3, installed: 4, failed: 4, rolled_back: 4,
};

/** Whether `earlier` comes before `later` on the way to an outcome (terminal states rank
 * alike): a report of `earlier` is late once `later` is known. */
export const comesBefore = (earlier: NodeUpdateState, later: NodeUpdateState): boolean => RANK[earlier] < RANK[later];

/** Whether the gateway takes a reported state after the one it has: forward (or the same
 * non-terminal state, for progress), never out of a terminal state. */
export function acceptsReport(current: NodeUpdateState, reported: NodeUpdateState): boolean {
  if (isTerminal(current)) return current === reported;
  return !comesBefore(reported, current);
}

export interface NodeUpdateStatus {
  readonly state: NodeUpdateState;
  /** 0..1 while downloading. */
  readonly progress: number;
  readonly error: string | null;
  readonly updated_at: string;
  /** The node's latest transfer figures, from its download's reports (kept after it);
   * absent when its agent sends none (an earlier release, or lock-step Block2 only). */
  readonly transfer?: TransferReport;
}

export type RolloutState = 'active' | 'paused' | 'completed' | 'cancelled' | 'aborted';

export type StateCounts = Readonly<Record<NodeUpdateState, number>>;

export function countStates(statuses: Iterable<NodeUpdateStatus>): StateCounts {
  const counts = Object.fromEntries(NODE_UPDATE_STATES.map((state) => [state, 0])) as Record<NodeUpdateState, number>;
  for (const status of statuses) counts[status.state]++;
  return counts;
}
