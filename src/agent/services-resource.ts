// GET /services and GET /services/{name} of the agent (DESIGN §5): the allowed units'
// states from the service manager. A name outside allowed_units is 4.04 before any
// program runs; a service manager that fails is 5.03 with its reason.

import type { ServicesView } from '../fleet/node-views.js';
import { encodeBody } from '../fleet/payload.js';
import { AgentRoute } from '../fleet/paths.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { RequestHandler } from '../protocol/server-types.js';
import { ResponseError } from '../protocol/errors.js';
import type { AllowedServices } from './allowed-services.js';
import { ServiceManagerError } from './errors.js';
import { linkAttributes } from '../fleet/link-attributes.js';

/** States change whenever a unit does: a client should not keep them long. */
const SERVICES_MAX_AGE_S = 5;

export function addServicesResources(
  endpoint: Endpoint, options: { readonly nodeId: string; readonly services: AllowedServices; readonly post?: RequestHandler | undefined },
): void {
  const { nodeId, services, post } = options;
  endpoint.router.add(AgentRoute.services, {
    attributes: linkAttributes('services', { if: 'collection', ct: 'app' }),
    handlers: {
      GET: async (request) => {
        const view: ServicesView = { node_id: nodeId, services: await unavailableOnFailure(services.manager.list(services.units)) };
        return { code: ResponseCode.Content, ...encodeBody(view, request.accept), maxAge: SERVICES_MAX_AGE_S };
      },
    },
  });
  endpoint.router.add(AgentRoute.service, {
    hidden: true,
    handlers: {
      GET: async (request) => {
        const name = services.check(request.params.name ?? '');
        return { code: ResponseCode.Content, ...encodeBody(await unavailableOnFailure(services.manager.status(name)), request.accept), maxAge: SERVICES_MAX_AGE_S };
      },
      // The signed service actions (command-resources.ts), when the agent takes commands.
      ...(post === undefined ? {} : { POST: post }),
    },
  });
}

/** The manager's failure as 5.03 with its reason: the node's own service manager said
 * it, and the operator needs it to act. */
async function unavailableOnFailure<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof ServiceManagerError) throw new ResponseError(ResponseCode.ServiceUnavailable, error.message, { diagnostic: error.message.slice(0, 512) });
    throw error;
  }
}
