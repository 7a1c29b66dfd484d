// The audit log, readable (DESIGN §5, §7): GET /audit for operators, newest entry first, in
// pages like the operator's /updates list: `?limit=` entries at most and about PAGE_BYTES
// of JSON, `?after=KEY` for the page following the entry KEY, filtered by `?who=` (exact),
// `?action=` (prefix) and `?since=` (RFC 3339). A page larger than a block goes Block2
// (RFC 7959 §2.4); the endpoint does that.

import { parseInstant } from '../fleet/instant.js';
import { GatewayRoute } from '../fleet/paths.js';
import type { AuditPage, AuditView } from '../fleet/views.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { queryValue } from './authorization.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import { reply } from './replies.js';
import type { GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, PAGE_BYTES } from './resources-updates.js';

/** Entries one request examines at most: a filter that matches little must not read the
 * whole log (audit_max_entries may be large) in one go. A page that stops here carries a
 * `next` all the same, so a walk still meets every entry once. */
export const MAX_AUDIT_SCAN = 10_000;

export interface AuditQuery {
  readonly limit: number;
  readonly after: number | undefined;
  readonly who: string | undefined;
  readonly action: string | undefined;
  readonly since: number | undefined;
}

const badQuery = (problem: string): ResponseError =>
  new ResponseError(ResponseCode.BadRequest, `bad query: ${problem}`, { diagnostic: problem });

/** The query of GET /audit, or 4.00 naming the first bad value. */
export function parseAuditQuery(query: readonly string[]): AuditQuery {
  const known = ['limit', 'after', 'who', 'action', 'since'];
  const stranger = query.find((argument) => !known.includes(argument.split('=', 1)[0]!) || !argument.includes('='));
  if (stranger !== undefined) throw badQuery(`unknown argument ${JSON.stringify(stranger.slice(0, 40))}; allowed: ${known.join(', ')}`);
  const limitText = queryValue(query, 'limit');
  const limit = limitText === undefined ? DEFAULT_PAGE_LIMIT : Number(limitText);
  if (!/^\d+$/.test(limitText ?? '1') || limit < 1 || limit > MAX_PAGE_LIMIT) throw badQuery(`limit: 1..${MAX_PAGE_LIMIT}`);
  const afterText = queryValue(query, 'after');
  const after = afterText === undefined ? undefined : Number(afterText);
  if (afterText !== undefined && (!/^\d{1,15}$/.test(afterText) || after! < 1)) throw badQuery('after: an entry key (the next of the previous page)');
  const sinceText = queryValue(query, 'since');
  const since = sinceText === undefined ? undefined : parseInstant(sinceText);
  if (sinceText !== undefined && since === undefined) throw badQuery('since: an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z, or epoch milliseconds');
  const who = queryValue(query, 'who');
  const action = queryValue(query, 'action');
  if (who === '') throw badQuery('who: empty');
  if (action === '') throw badQuery('action: empty');
  return { limit, after, who, action, since };
}

/** One page of the log, newest first, after the entry `after`. */
export function auditPage(store: GatewayStore, query: AuditQuery): AuditPage {
  const entries: AuditView[] = [];
  let bytes = 0;
  let scanned = 0;
  let last: number | undefined;
  for (const { key, entry } of store.auditBefore(query.after)) {
    if (scanned === MAX_AUDIT_SCAN) return { entries, next: last! };
    scanned++;
    last = key;
    if (query.who !== undefined && entry.who !== query.who) continue;
    if (query.action !== undefined && !entry.action.startsWith(query.action)) continue;
    if (query.since !== undefined && !(Date.parse(entry.at) >= query.since)) continue;
    const view: AuditView = { key, ...entry };
    const size = JSON.stringify(view).length;
    if (entries.length === query.limit || (entries.length > 0 && bytes + size > PAGE_BYTES)) {
      return { entries, next: entries.at(-1)!.key };
    }
    entries.push(view);
    bytes += size;
  }
  return { entries, next: null };
}

export function addAuditResources(context: { readonly router: GatewayRouter; readonly store: GatewayStore }): void {
  const { router, store } = context;
  router.add(GatewayRoute.audit, {
    attributes: linkAttributes('audit', { if: 'log', ct: 'app' }),
    handlers: {
      GET: (request) => reply(request, auditPage(store, parseAuditQuery(request.query))),
    },
  });
}
