// The node resources of the gateway (DESIGN §5): /nodes (operators list, a node registers
// itself), /nodes/{id} (read by operators and the node, decommissioned by operators, its
// metrics history with it) and /nodes/{id}/health (written by that node only, read and
// observed by operators; what a sample does is node-reports.ts's). Tags (fleet/node-tags.ts)
// come with a registration or from an operator's PUT /nodes/{id}; GET /nodes?tag=T filters.

import { GatewayRoute, gatewayPath } from '../fleet/paths.js';
import { mergeTags, normalTags, tagProblems } from '../fleet/node-tags.js';
import { parseHealth, parseRegistration } from '../fleet/schemas.js';
import { MAX_BODY_BYTES } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import type { Logger, Peer } from '../protocol/interfaces.js';
import type { Alerts } from './alerts.js';
import { queryValue } from './authorization.js';
import { AccessDenied } from './errors.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import type { MetricsHistory } from './metrics-history.js';
import type { NodeReports } from './node-reports.js';
import type { Presence } from './presence.js';
import type { NodeRecord } from './records.js';
import { locationOf, notFound, objectBody, readBody, reply } from './replies.js';
import { healthView, nodeView } from './representations.js';
import { whoOf, type GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';

export interface NodeResourcesContext {
  readonly router: GatewayRouter;
  readonly store: GatewayStore;
  readonly presence: Presence;
  readonly alerts: Alerts;
  readonly reports: NodeReports;
  readonly history: MetricsHistory;
  readonly logger: Logger;
  readonly now: () => Date;
  /** A node registered itself from `peer`, its record written. */
  readonly onRegistered: (nodeId: string, peer: Peer) => void;
}

export function addNodeResources(context: NodeResourcesContext): void {
  const { router, store, presence, alerts, reports, history, logger, now, onRegistered } = context;

  const existing = (id: string): NodeRecord => {
    const node = store.getNode(id);
    if (node === undefined) throw notFound(`node ${id}`);
    return node;
  };
  const changed = (id: string, listed: boolean): void => {
    router.notify(gatewayPath.node(id), gatewayPath.health(id));
    if (listed) router.notify(GatewayRoute.nodes);
  };

  router.add(GatewayRoute.nodes, {
    attributes: linkAttributes('nodes', { if: 'collection', ct: 'app', obs: true }),
    observable: true,
    maxBodySize: MAX_BODY_BYTES,
    handlers: {
      GET: (request) => {
        const tag = queryValue(request.query, 'tag');
        const nodes = store.listNodes().filter((node) => tag === undefined || (node.tags ?? []).includes(tag));
        return reply(request, { nodes: nodes.map((node) => nodeView(node, presence.isOnline(node))) });
      },
      POST: async (request, caller) => {
        const registration = parseRegistration(readBody(request));
        const id = registration.node_id;
        if (caller.principal.role === 'node' && caller.principal.name !== id) {
          throw new AccessDenied(ResponseCode.Forbidden, `node:${caller.principal.name} may not register node ${id}`);
        }
        const who = whoOf(caller.principal, request.peer);
        const at = now().toISOString();
        const previous = await store.atomically((writer) => {
          const current = store.getNode(id);
          writer.putNode({
            registration, registered_at: current?.registered_at ?? at, last_seen: at,
            health: current?.health ?? null, health_at: current?.health_at ?? null,
            ...(current?.link === undefined ? {} : { link: current.link }),
            tags: mergeTags(current?.tags ?? [], current?.registration.tags ?? [], registration.tags ?? []),
          });
          if (current === undefined || current.registration.version !== registration.version) {
            writer.audit({ at, who, action: current === undefined ? 'node.register' : 'node.version', target: gatewayPath.node(id), detail: `version ${registration.version}` });
          }
          return current;
        });
        presence.seen(id);
        if (caller.principal.role === 'node') onRegistered(id, request.peer);
        logger.info({ node: id, version: registration.version, again: previous !== undefined }, 'node registered');
        const before = previous?.registration.agent_started_at;
        if (before !== undefined && registration.agent_started_at !== undefined && before !== registration.agent_started_at) {
          await alerts.agentStarted(id, before, registration.agent_started_at);
        }
        changed(id, true);
        if (previous !== undefined) return { code: ResponseCode.Changed };
        return { code: ResponseCode.Created, options: locationOf(gatewayPath.node(id)) };
      },
    },
  });

  router.add(GatewayRoute.node, {
    attributes: linkAttributes('node', { if: 'item', ct: 'app', obs: true }),
    observable: true,
    handlers: {
      GET: (request) => {
        const node = existing(request.params.id!);
        return reply(request, nodeView(node, presence.isOnline(node)));
      },
      // An operator sets the node's tags: the whole list, replacing what it had.
      PUT: async (request, caller) => {
        const id = request.params.id!;
        const body = objectBody(readBody(request), ['tags']);
        const problems = tagProblems(body.tags, 'tags');
        if (problems.length > 0) throw new ResponseError(ResponseCode.BadRequest, problems.join('; '), { diagnostic: problems.join('; ') });
        const tags = normalTags(body.tags as string[]);
        const at = now().toISOString();
        await store.atomically((writer) => {
          const node = existing(id);
          writer.putNode({ ...node, tags });
          writer.audit({ at, who: whoOf(caller.principal, request.peer), action: 'node.tags', target: gatewayPath.node(id), detail: tags.join(',') });
        });
        logger.info({ node: id, tags }, 'node tags set');
        changed(id, true);
        return { code: ResponseCode.Changed };
      },
      DELETE: async (request, caller) => {
        const id = request.params.id!;
        const at = now().toISOString();
        const removed = await store.atomically((writer) => {
          if (store.getNode(id) === undefined) return false;
          writer.removeNode(id);
          writer.audit({ at, who: whoOf(caller.principal, request.peer), action: 'node.decommission', target: gatewayPath.node(id) });
          return true;
        });
        // DELETE is idempotent (RFC 7252 §5.8.4): a repeat is 2.02 as well.
        if (removed) {
          await history.forget(id);
          presence.forget(id);
          await alerts.forget(id);
          logger.info({ node: id }, 'node decommissioned');
          changed(id, true);
        }
        return { code: ResponseCode.Deleted };
      },
    },
  });

  router.add(GatewayRoute.health, {
    attributes: linkAttributes('node.health', { if: 'item', ct: 'app', obs: true }),
    observable: true,
    maxBodySize: MAX_BODY_BYTES,
    handlers: {
      GET: (request) => {
        const node = existing(request.params.id!);
        return reply(request, healthView(node, presence.isOnline(node)));
      },
      PUT: async (request) => {
        await reports.health(request.params.id!, parseHealth(readBody(request)));
        return { code: ResponseCode.Changed };
      },
    },
  });
}
