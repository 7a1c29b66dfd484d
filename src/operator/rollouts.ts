// An operator's rollouts (DESIGN §5, issue 13): the list (GET /updates, page by page), one
// rollout with its counts and waves (GET /updates/{id}), and the operator's moves on it:
// pause and resume (PUT /updates/{id} state), cancel (DELETE). The watch is rollout-watch.ts.

import { gatewayPath, GatewayRoute, isValidId } from '../fleet/paths.js';
import type { UpdateDetail, UpdatePage, UpdateSummary } from '../fleet/views.js';
import { Method } from '../protocol/codes.js';
import { InvalidIdError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';

export function checkUpdateId(updateId: string): void {
  if (!isValidId(updateId)) throw new InvalidIdError(`${JSON.stringify(updateId)} is not an update id (1-64 of [A-Za-z0-9._-])`);
}

/** The most pages a list reads (the gateway's pages hold up to 1000 entries each). */
const MAX_PAGES = 100;

/** Every update the gateway keeps, in id order. */
export async function listRollouts(gateway: GatewayClient): Promise<UpdateSummary[]> {
  const updates: UpdateSummary[] = [];
  let after: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: string = `?limit=1000${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
    const body: UpdatePage = await gateway.json<UpdatePage>(Method.GET, `${GatewayRoute.updates}${query}`);
    updates.push(...body.updates);
    after = body.next;
    if (after === null) break;
  }
  return updates;
}

export async function readRollout(gateway: GatewayClient, updateId: string): Promise<UpdateDetail> {
  checkUpdateId(updateId);
  return gateway.json<UpdateDetail>(Method.GET, gatewayPath.update(updateId));
}

export type RolloutMove = 'pause' | 'resume' | 'cancel';

/** Pauses, resumes or cancels the rollout; resolves with how it stands after. */
export async function moveRollout(gateway: GatewayClient, updateId: string, move: RolloutMove): Promise<UpdateDetail> {
  checkUpdateId(updateId);
  const path = gatewayPath.update(updateId);
  if (move === 'cancel') await gateway.send(Method.DELETE, path);
  else await gateway.send(Method.PUT, path, { state: move === 'pause' ? 'paused' : 'active' });
  return readRollout(gateway, updateId);
}
