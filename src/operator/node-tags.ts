// Node groups from the operator's side (issue 13): the nodes with given tags (GET
// /nodes?tag=T), resolved into the explicit target list a manifest signs, and a node's
// tags changed (PUT /nodes/{id} with the whole new list).

import { isValidTag } from '../fleet/node-tags.js';
import { gatewayPath } from '../fleet/paths.js';
import type { NodeView } from '../fleet/views.js';
import { Method } from '../protocol/codes.js';
import { InvalidIdError, NoTargetsError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';
import { listNodes } from './nodes.js';
import { checkNodeId } from './node-reads.js';

export function checkTag(tag: string): void {
  if (!isValidTag(tag)) throw new InvalidIdError(`${JSON.stringify(tag)} is not a tag (1-32 of [A-Za-z0-9._-])`);
}

/** The ids of the nodes with any of `tags`, sorted; NoTargetsError when there is none. */
export async function nodesTagged(gateway: GatewayClient, tags: readonly string[]): Promise<string[]> {
  tags.forEach(checkTag);
  const ids = new Set<string>();
  for (const tag of tags) for (const node of await listNodes(gateway, tag)) ids.add(node.node_id);
  if (ids.size === 0) throw new NoTargetsError(`no registered node has the tag${tags.length === 1 ? '' : 's'} ${tags.join(', ')}`);
  return [...ids].sort();
}

/** Adds and removes tags of a node; resolves with its tags after. */
export async function changeNodeTags(gateway: GatewayClient, nodeId: string, add: readonly string[], remove: readonly string[]): Promise<readonly string[]> {
  checkNodeId(nodeId);
  [...add, ...remove].forEach(checkTag);
  const node = await gateway.json<NodeView>(Method.GET, gatewayPath.node(nodeId));
  const tags = [...new Set([...(node.tags ?? []).filter((tag) => !remove.includes(tag)), ...add])].sort();
  await gateway.send(Method.PUT, gatewayPath.node(nodeId), { tags });
  return tags;
}
