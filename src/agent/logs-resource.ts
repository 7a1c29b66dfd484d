// GET /logs of the agent (DESIGN §5): `?unit=U&since=T&priority=P&lines=N`, the newest
// matching entries oldest first, bounded in lines and bytes (then `truncated`); large
// answers go block-wise by themselves (RFC 7959 §2.2). Observe = follow (RFC 7641): the
// first answer is the same, and each notification carries only the entries that arrived
// since that observer's previous one (log-follows.ts).

import { parseInstant } from '../fleet/instant.js';
import type { LogsView } from '../fleet/node-views.js';
import { AgentRoute } from '../fleet/paths.js';
import { encodeBody } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import { ResponseError } from '../protocol/errors.js';
import { OBSERVE_REGISTER } from '../protocol/observe-sequence.js';
import { getUintOption, OptionNumber } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import { checkUnitName } from './config.js';
import { LogSourceError } from './errors.js';
import type { FollowPlace, LogFollows } from './log-follows.js';
import { boundEntries, DEFAULT_LOG_LINES, MAX_LOG_LINES, MAX_LOG_RESPONSE_BYTES, type LogQuery, type LogSource } from './log-source.js';
import { badQuery, readQuery } from './request-query.js';
import { linkAttributes } from '../fleet/link-attributes.js';

/** A quiet log sends no notification: its silence must not read as a lost observation
 * too soon (RFC 7641 §3.3.1, the client re-registers after Max-Age). */
const FOLLOW_MAX_AGE_S = 300;
const LOGS_MAX_AGE_S = 5;

export function addLogsResource(
  endpoint: Endpoint,
  options: { readonly nodeId: string; readonly source: LogSource; readonly follows: LogFollows },
): void {
  const { nodeId, source, follows } = options;
  // The server renders a notification by calling the handler again with the stored
  // registration request (observe-server.ts): the observer's place in its follow is kept
  // by that request, and goes with it.
  const places = new WeakMap<CoapRequest, FollowPlace>();
  endpoint.router.add(AgentRoute.logs, {
    observable: true,
    attributes: linkAttributes('logs', { if: 'log', ct: 'app', obs: true }),
    handlers: {
      GET: async (request) => {
        const place = places.get(request);
        if (place !== undefined) {
          const news = follows.claim(place);
          return answer(request, { node_id: nodeId, ...boundEntries(news.entries, MAX_LOG_RESPONSE_BYTES) }, news.truncated, FOLLOW_MAX_AGE_S);
        }
        const query = parseLogsQuery(request.query);
        let read;
        try {
          read = await source.read(query);
        } catch (error) {
          if (error instanceof LogSourceError) throw new ResponseError(ResponseCode.ServiceUnavailable, error.message, { diagnostic: error.message.slice(0, 512) });
          throw error;
        }
        const observing = getUintOption(request.options, OptionNumber.Observe) === OBSERVE_REGISTER;
        if (observing) {
          const joined = follows.join(query, read.cursor);
          if (joined === undefined) {
            throw new ResponseError(ResponseCode.ServiceUnavailable, 'too many log follows', {
              diagnostic: 'too many different log follows on this node: follow with the filters of one under way, or later', maxAge: 60,
            });
          }
          places.set(request, joined);
        }
        return answer(request, { node_id: nodeId, ...boundEntries(read.entries, MAX_LOG_RESPONSE_BYTES) }, read.truncated, observing ? FOLLOW_MAX_AGE_S : LOGS_MAX_AGE_S);
      },
    },
  });
}

function answer(request: CoapRequest, view: LogsView, truncated: boolean, maxAge: number): ResponseInit {
  return { code: ResponseCode.Content, ...encodeBody({ ...view, truncated: view.truncated || truncated }, request.accept), maxAge };
}

/** The query of GET /logs, or 4.00 naming the first bad argument. */
export function parseLogsQuery(query: readonly string[]): LogQuery {
  const values = readQuery(query, ['unit', 'since', 'priority', 'lines']);
  const unit = values.get('unit');
  if (unit !== undefined && checkUnitName(unit) !== undefined) throw badQuery(`unit: ${checkUnitName(unit)!}`);
  const sinceText = values.get('since');
  const sinceMs = sinceText === undefined ? undefined : parseInstant(sinceText);
  if (sinceText !== undefined && sinceMs === undefined) throw badQuery('since: an RFC 3339 date-time (2026-01-31T12:00:00Z) or epoch milliseconds');
  const priorityText = values.get('priority');
  if (priorityText !== undefined && !/^[0-7]$/.test(priorityText)) throw badQuery('priority: 0 (emerg) .. 7 (debug)');
  const linesText = values.get('lines');
  const lines = linesText === undefined ? DEFAULT_LOG_LINES : Number(linesText);
  if (linesText !== undefined && (!/^\d{1,4}$/.test(linesText) || lines < 1 || lines > MAX_LOG_LINES)) throw badQuery(`lines: 1..${MAX_LOG_LINES}`);
  return {
    lines, ...(unit === undefined ? {} : { unit }), ...(sinceMs === undefined ? {} : { sinceMs }),
    ...(priorityText === undefined ? {} : { priority: Number(priorityText) }),
  };
}
