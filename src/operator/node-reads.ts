// What an operator reads of one node through the gateway (DESIGN §5): its health as the
// gateway keeps it, its metrics history, and what the gateway forwards to the node's agent
// (services, settings). Shapes from src/fleet/node-views.ts and src/fleet/views.ts; a
// refusal or a node out of reach (5.04) is a GatewayError with the gateway's diagnostic.

import type { MetricsView, NodeConfigView, ServicesView } from '../fleet/node-views.js';
import { gatewayPath, isValidId } from '../fleet/paths.js';
import type { HealthView, NodeView } from '../fleet/views.js';
import { Method } from '../protocol/codes.js';
import { InvalidIdError, UnexpectedResponseError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';

/** The kinds of the fields a caller reads from a representation: enough to refuse a body
 * of another shape with a clear error rather than fail later on a missing field. */
export type FieldKinds = Readonly<Record<string, 'array' | 'object' | 'string' | 'boolean' | 'number'>>;

export function checkNodeId(nodeId: string): void {
  if (!isValidId(nodeId)) throw new InvalidIdError(`${JSON.stringify(nodeId)} is not a valid node id (1-64 of [A-Za-z0-9._-])`);
}

/** GET /nodes/{id}: the node's registration, presence, health and link quality. */
export const readNode = (gateway: GatewayClient, nodeId: string): Promise<NodeView> =>
  readView(gateway, nodeId, gatewayPath.node(nodeId), { node_id: 'string', version: 'string', online: 'boolean', last_seen: 'string' });

/** GET /nodes/{id}/health: the node's last report, as the gateway keeps it. */
export const readNodeHealth = (gateway: GatewayClient, nodeId: string): Promise<HealthView> =>
  readView(gateway, nodeId, gatewayPath.health(nodeId), { node_id: 'string', online: 'boolean', last_seen: 'string' });

/** GET /nodes/{id}/metrics: the samples the gateway keeps, oldest first: those after
 * `since` (RFC 3339), or without it the gateway's default window. */
export const readNodeMetrics = (gateway: GatewayClient, nodeId: string, since?: string): Promise<MetricsView> =>
  readView(gateway, nodeId, `${gatewayPath.metrics(nodeId)}${since === undefined ? '' : `?since=${encodeURIComponent(since)}`}`,
    { node_id: 'string', samples: 'array' });

/** GET /nodes/{id}/services: the units the node's agent is allowed to show and act on. */
export const readNodeServices = (gateway: GatewayClient, nodeId: string): Promise<ServicesView> =>
  readView(gateway, nodeId, gatewayPath.services(nodeId), { node_id: 'string', services: 'array' });

/** GET /nodes/{id}/system/config: the agent's settings, and which apply without a restart. */
export const readNodeConfig = (gateway: GatewayClient, nodeId: string): Promise<NodeConfigView> =>
  readView(gateway, nodeId, gatewayPath.nodeConfig(nodeId), { node_id: 'string', settings: 'object', live: 'array' });

async function readView<T>(gateway: GatewayClient, nodeId: string, path: string, fields: FieldKinds): Promise<T> {
  checkNodeId(nodeId);
  const response = await gateway.send(Method.GET, path);
  return viewOf<T>(response.payload, path, fields);
}

// ---- pure ---------------------------------------------------------------------------

/** A JSON body with `fields` of their kinds, or UnexpectedResponseError naming `what`. */
export function viewOf<T>(payload: Buffer, what: string, fields: FieldKinds): T {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    throw new UnexpectedResponseError(`${what}: the answer is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UnexpectedResponseError(`${what}: the answer is not a JSON object`);
  const record = value as Record<string, unknown>;
  const wrong = Object.entries(fields).filter(([name, kind]) => kindOf(record[name]) !== kind).map(([name, kind]) => `${name} (${kind})`);
  if (wrong.length > 0) throw new UnexpectedResponseError(`${what}: the answer lacks ${wrong.join(', ')}`);
  return value as T;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  return value === null ? 'null' : typeof value;
}
