// GET /metrics of the agent (DESIGN §5), observable: without a query the latest sample,
// with `?since=T` (RFC 3339 or epoch milliseconds) every kept sample taken after T. Each
// new sample notifies the observers with the latest sample only (RFC 7641 §4.2), whatever
// `since` their registration carried. Max-Age is the sampling interval (RFC 7252 §5.10.5).

import { parseInstant } from '../fleet/instant.js';
import type { MetricsView } from '../fleet/node-views.js';
import { AgentRoute } from '../fleet/paths.js';
import { encodeBody } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { CoapRequest } from '../protocol/server-types.js';
import type { MetricsSampler } from './metrics-sampler.js';
import { badQuery, readQuery } from './request-query.js';
import { linkAttributes } from '../fleet/link-attributes.js';

export function addMetricsResource(
  endpoint: Endpoint, options: { readonly nodeId: string; readonly sampler: MetricsSampler },
): () => void {
  const { nodeId, sampler } = options;
  // The server renders a notification by calling the handler again with the stored
  // registration request (observe-server.ts): a request seen before is a notification.
  const rendered = new WeakSet<CoapRequest>();
  endpoint.router.add(AgentRoute.metrics, {
    observable: true,
    attributes: linkAttributes('metrics', { if: 'item', ct: 'app', obs: true }),
    handlers: {
      GET: (request) => {
        const sinceText = readQuery(request.query, ['since']).get('since');
        const since = sinceText === undefined ? undefined : parseInstant(sinceText);
        if (sinceText !== undefined && since === undefined) throw badQuery('since: an RFC 3339 date-time (2026-01-31T12:00:00Z) or epoch milliseconds');
        const notification = rendered.has(request);
        rendered.add(request);
        const latest = sampler.latest();
        const view: MetricsView = {
          node_id: nodeId, interval_s: sampler.intervalS,
          samples: since !== undefined && !notification ? sampler.since(since) : latest === undefined ? [] : [latest],
        };
        return { code: ResponseCode.Content, ...encodeBody(view, request.accept), maxAge: Math.ceil(sampler.intervalS) };
      },
    },
  });
  return sampler.onSample(() => endpoint.notify(AgentRoute.metrics));
}
