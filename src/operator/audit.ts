// The gateway's audit log (GET /audit), read page after page: newest entry first, filtered
// by the gateway, until `limit` entries or the end of the log.

import { GatewayRoute } from '../fleet/paths.js';
import type { AuditPage, AuditView } from '../fleet/views.js';
import { Method } from '../protocol/codes.js';
import type { GatewayClient } from './gateway-client.js';

export interface AuditFilters {
  /** Exactly this principal: "operator:alice", "node:n1", "gateway"… */
  readonly who?: string | undefined;
  /** Actions starting with this: "access.", "update.create"… */
  readonly action?: string | undefined;
  /** Entries at or after this RFC 3339 date-time. */
  readonly since?: string | undefined;
}

/** The gateway's largest page (server resources-updates.ts MAX_PAGE_LIMIT). */
const PAGE_LIMIT = 1000;
/** Pages one read asks for at most: each brings at least one entry, or ends the log, or
 * has examined the gateway's scan bound; this keeps a read of a huge log finite. */
const MAX_PAGES = 10_000;

export async function readAudit(gateway: GatewayClient, options: { filters?: AuditFilters; limit: number }): Promise<AuditView[]> {
  const { filters = {}, limit } = options;
  const entries: AuditView[] = [];
  let after: number | null | undefined;
  for (let pages = 0; after !== null && entries.length < limit && pages < MAX_PAGES; pages++) {
    const query = [
      ['who', filters.who], ['action', filters.action], ['since', filters.since],
      ['limit', String(Math.min(PAGE_LIMIT, limit - entries.length))], ['after', after === undefined ? undefined : String(after)],
    ].filter((pair): pair is [string, string] => pair[1] !== undefined).map(([name, value]) => `${name}=${encodeURIComponent(value)}`);
    const page = await gateway.json<AuditPage>(Method.GET, `${GatewayRoute.audit}?${query.join('&')}`);
    entries.push(...page.entries);
    after = page.next;
  }
  return entries;
}
