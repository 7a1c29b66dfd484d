// /nodes/{id}/metrics on the gateway (DESIGN §5): GET (+Observe) the node's history as a
// MetricsView (operators and the node itself), `?since=` RFC 3339 or epoch milliseconds
// (default: the last hour) and `?limit=` (the newest N of those); Block2 when large, by the
// endpoint (RFC 7959 §2.2). PUT by the node itself: a MetricsSample or a MetricsView, for
// an agent that no observation reaches.

import { parseInstant } from '../fleet/instant.js';
import { parseMetricsBody } from '../fleet/schemas.js';
import { MAX_BODY_BYTES } from '../fleet/payload.js';
import { GatewayRoute } from '../fleet/paths.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { queryValue } from './authorization.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import type { MetricsHistory } from './metrics-history.js';
import { METRICS_CAP_PER_NODE } from './metrics-tiers.js';
import type { NodeReports } from './node-reports.js';
import { notFound, readBody, reply } from './replies.js';
import type { GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';

/** Without `?since=`: this far back. */
const DEFAULT_WINDOW_MS = 60 * 60 * 1000;

export interface MetricsResourcesContext {
  readonly router: GatewayRouter;
  readonly store: GatewayStore;
  readonly history: MetricsHistory;
  readonly reports: NodeReports;
  readonly now: () => Date;
}

export function addMetricsResources(context: MetricsResourcesContext): void {
  const { router, store, history, reports, now } = context;
  router.add(GatewayRoute.metrics, {
    attributes: linkAttributes('node.metrics', { if: 'item', ct: 'app', obs: true }),
    observable: true,
    maxBodySize: MAX_BODY_BYTES,
    handlers: {
      GET: (request) => {
        const id = request.params.id!;
        if (store.getNode(id) === undefined) throw notFound(`node ${id}`);
        const since = parseSince(queryValue(request.query, 'since'), now().getTime());
        const limit = parseLimit(queryValue(request.query, 'limit'));
        return reply(request, history.view(id, since, limit));
      },
      PUT: async (request) => {
        const id = request.params.id!;
        await reports.metrics(id, parseMetricsBody(readBody(request), id));
        return { code: ResponseCode.Changed };
      },
    },
  });
}

const badQuery = (message: string): ResponseError => new ResponseError(ResponseCode.BadRequest, message, { diagnostic: message });

/** `?since=`: an instant as RFC 3339 or epoch milliseconds; absent: an hour before `now`. */
function parseSince(value: string | undefined, now: number): number {
  if (value === undefined) return now - DEFAULT_WINDOW_MS;
  const at = parseInstant(value);
  if (at === undefined) throw badQuery('since: RFC 3339 (2026-01-01T00:00:00Z) or epoch milliseconds');
  return at;
}

/** `?limit=`: 1 up to the samples a node keeps; absent: all of them. */
function parseLimit(value: string | undefined): number {
  if (value === undefined) return METRICS_CAP_PER_NODE;
  const limit = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= METRICS_CAP_PER_NODE)) throw badQuery(`limit: 1..${METRICS_CAP_PER_NODE}`);
  return limit;
}
