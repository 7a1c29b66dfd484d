// The node resources the gateway forwards to the node's agent (DESIGN §5): services, one
// service, logs (observable: one shared upstream observation), update readiness (the dry
// run's question, issue 13), config, restart and shutdown under /nodes/{id}/…, operators
// only (authorization.ts). The agent's paths are AgentRoute's; what goes and comes back is
// forwarder.ts's.

import { AgentRoute, GatewayRoute } from '../fleet/paths.js';
import { MAX_BODY_BYTES } from '../fleet/payload.js';
import { Method } from '../protocol/codes.js';
import { getUintOption, OptionNumber } from '../protocol/options.js';
import { OBSERVE_REGISTER } from '../protocol/observe-sequence.js';
import type { CoapRequest } from '../protocol/server-types.js';
import type { Forward, Forwarder } from './forwarder.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import type { GatewayHandler, GatewayRouter } from './routing.js';
import type { SharedObservations } from './shared-observations.js';

export interface ForwardedResourcesContext {
  readonly router: GatewayRouter;
  readonly forwarder: Forwarder;
  readonly observations: SharedObservations;
}

export function addForwardedResources(context: ForwardedResourcesContext): void {
  const { router, forwarder, observations } = context;
  const forward = (agentRoute: string): GatewayHandler => (request, caller) => forwarder.forward(request, caller, forwardOf(request, agentRoute));
  /** GET with Observe = 0 (a registration, or the rendering of a notification) shares the
   * upstream observation; a plain GET is forwarded (or answered from the cache). */
  const observed = (agentRoute: string): GatewayHandler => (request, caller) => {
    if (request.method !== Method.GET || getUintOption(request.options, OptionNumber.Observe) !== OBSERVE_REGISTER) {
      return forwarder.forward(request, caller, forwardOf(request, agentRoute));
    }
    const target = forwardOf(request, agentRoute);
    forwarder.known(target.nodeId);
    return observations.current(request, target);
  };
  const writes = { maxBodySize: MAX_BODY_BYTES };

  router.add(GatewayRoute.services, {
    attributes: linkAttributes('node.services', { if: 'collection', ct: 'app' }),
    handlers: { GET: forward(AgentRoute.services) },
  });
  router.add(GatewayRoute.service, {
    attributes: linkAttributes('node.service', { if: 'item', ct: 'app' }),
    ...writes,
    handlers: { GET: forward(AgentRoute.service), POST: forward(AgentRoute.service) },
  });
  router.add(GatewayRoute.logs, {
    attributes: linkAttributes('node.logs', { if: 'log', ct: 'app', obs: true }),
    observable: true,
    handlers: { GET: observed(AgentRoute.logs) },
  });
  router.add(GatewayRoute.readiness, {
    attributes: linkAttributes('node.update-readiness', { if: 'item', ct: 'app' }),
    handlers: { GET: forward(AgentRoute.readiness) },
  });
  router.add(GatewayRoute.nodeConfig, {
    attributes: linkAttributes('node.config', { if: 'item', ct: 'app' }),
    ...writes,
    handlers: { GET: forward(AgentRoute.config), PUT: forward(AgentRoute.config) },
  });
  router.add(GatewayRoute.nodeRestart, {
    attributes: linkAttributes('node.restart', { if: 'action', ct: 'app' }),
    ...writes,
    handlers: { POST: forward(AgentRoute.restart) },
  });
  router.add(GatewayRoute.nodeShutdown, {
    attributes: linkAttributes('node.shutdown', { if: 'action', ct: 'app' }),
    ...writes,
    handlers: { POST: forward(AgentRoute.shutdown) },
  });
}

/** The node and the agent's path segments for a request on a forwarded route; the only
 * parameter of an agent route is {name}. */
function forwardOf(request: CoapRequest, agentRoute: string): Forward {
  return {
    nodeId: request.params.id!,
    agentPath: agentRoute.slice(1).split('/').map((segment) => (segment === '{name}' ? request.params.name! : segment)),
  };
}
