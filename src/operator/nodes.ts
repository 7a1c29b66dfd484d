// The fleet's nodes as the gateway lists them (GET /nodes): registration, presence, health,
// tags; with a tag, only the nodes that have it.

import { GatewayRoute } from '../fleet/paths.js';
import { Method } from '../protocol/codes.js';
import type { NodeView } from '../fleet/views.js';
import type { GatewayClient } from './gateway-client.js';

export async function listNodes(gateway: GatewayClient, tag?: string): Promise<NodeView[]> {
  const query = tag === undefined ? '' : `?tag=${encodeURIComponent(tag)}`;
  return (await gateway.json<{ nodes: NodeView[] }>(Method.GET, `${GatewayRoute.nodes}${query}`)).nodes;
}
