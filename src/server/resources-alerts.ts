// The alert resources of the gateway (issue 11): /alerts, read and observed by operators
// (the active alerts; `?state=all` adds the cleared ones kept), and /alerts/{id}, read and
// acknowledged by an operator (PUT {"acknowledged": true}; who did it is recorded and
// audited). JSON or CBOR as the Accept option asks.

import { GatewayRoute } from '../fleet/paths.js';
import { MAX_BODY_BYTES } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import type { Alerts } from './alerts.js';
import { queryValue } from './authorization.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import { objectBody, readBody, reply } from './replies.js';
import { whoOf, type GatewayRouter } from './routing.js';

export interface AlertResourcesContext {
  readonly router: GatewayRouter;
  readonly alerts: Alerts;
}

const badRequest = (reason: string): ResponseError => new ResponseError(ResponseCode.BadRequest, reason, { diagnostic: reason });

export function addAlertResources({ router, alerts }: AlertResourcesContext): void {
  router.add(GatewayRoute.alerts, {
    attributes: linkAttributes('alerts', { if: 'collection', ct: 'app', obs: true }),
    observable: true,
    handlers: {
      GET: (request) => {
        const state = queryValue(request.query, 'state') ?? 'active';
        if (state !== 'active' && state !== 'all') throw badRequest('state: active or all');
        return reply(request, { alerts: alerts.list(state) });
      },
    },
  });

  router.add(GatewayRoute.alert, {
    attributes: linkAttributes('alert', { if: 'item', ct: 'app' }),
    maxBodySize: MAX_BODY_BYTES,
    handlers: {
      GET: (request) => reply(request, alerts.get(request.params.id!)),
      PUT: async (request, caller) => {
        const body = objectBody(readBody(request), ['acknowledged']);
        if (body.acknowledged !== true) throw badRequest('acknowledged: true');
        const alert = await alerts.acknowledge(request.params.id!, whoOf(caller.principal, request.peer));
        return reply(request, alert, ResponseCode.Changed);
      },
    },
  });
}
