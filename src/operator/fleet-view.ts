// The gateway's view of a fleet, for `coap-fleet simulate` and the fleet benchmark: how
// many nodes it has registered and sees online (GET /nodes), the newest rollouts with
// their counts per state (GET /updates, GET /updates/{id}) and the errors the nodes
// reported in them, grouped by kind (GET /updates/{id}/status).

import { gatewayPath } from '../fleet/paths.js';
import type { RolloutState, StateCounts } from '../fleet/update-state.js';
import type { StatusView } from '../fleet/views.js';
import { Method } from '../protocol/codes.js';
import type { GatewayClient } from './gateway-client.js';
import { listNodes } from './nodes.js';
import { listRollouts, readRollout } from './rollouts.js';

/** Rollouts shown: the newest ones. */
const MAX_ROLLOUTS = 5;
/** Error kinds kept per view; the rest go under "other". */
const MAX_ERROR_KINDS = 16;
/** Characters of an error's text that name its kind. */
const KIND_LENGTH = 80;

export interface RolloutProgress {
  readonly update_id: string;
  readonly rollout: RolloutState;
  readonly targets: number;
  readonly counts: StateCounts;
}

export interface FleetView {
  readonly nodes_registered: number;
  readonly nodes_online: number;
  readonly rollouts: readonly RolloutProgress[];
  /** The nodes' reported update errors (failed, rolled back) by kind, over those rollouts. */
  readonly errors: Readonly<Record<string, number>>;
}

export async function readFleetView(gateway: GatewayClient): Promise<FleetView> {
  const nodes = await listNodes(gateway);
  const newest = (await listRollouts(gateway))
    .sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, MAX_ROLLOUTS);
  const rollouts: RolloutProgress[] = [];
  const errors: Record<string, number> = {};
  for (const summary of newest) {
    const detail = await readRollout(gateway, summary.update_id);
    rollouts.push({ update_id: detail.update_id, rollout: detail.rollout, targets: detail.targets, counts: detail.counts });
    if (detail.counts.failed + detail.counts.rolled_back === 0) continue;
    const status = await gateway.json<StatusView>(Method.GET, gatewayPath.status(summary.update_id));
    for (const entry of Object.values(status.nodes)) {
      if (entry.error !== null) countKind(errors, errorKind(entry.error));
    }
  }
  return {
    nodes_registered: nodes.length, nodes_online: nodes.filter((node) => node.online).length, rollouts, errors,
  };
}

function countKind(errors: Record<string, number>, kind: string): void {
  const key = kind in errors || Object.keys(errors).length < MAX_ERROR_KINDS - 1 ? kind : 'other';
  errors[key] = (errors[key] ?? 0) + 1;
}

/** An error's kind: its text with numbers blanked, so "after 3 tries" and "after 4 tries"
 * count together. */
export const errorKind = (error: string): string => error.slice(0, KIND_LENGTH).replace(/\d+(\.\d+)?/g, 'N');
