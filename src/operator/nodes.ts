// The fleet's nodes as the gateway lists them (GET /nodes): registration, presence, health.

import { GatewayRoute } from '../fleet/paths.js';
import { Method } from '../protocol/codes.js';
import type { NodeView } from '../fleet/views.js';
import type { GatewayClient } from './gateway-client.js';

export async function listNodes(gateway: GatewayClient): Promise<NodeView[]> {
  return (await gateway.json<{ nodes: NodeView[] }>(Method.GET, GatewayRoute.nodes)).nodes;
}
