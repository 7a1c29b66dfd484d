// `coap-fleet audit`: the gateway's audit log (src/operator's readAudit), newest first, as
// a table or as JSON.

import type { AuditView } from '../fleet/views.js';
import { readAudit } from '../operator/audit.js';
import { openGateway } from '../operator/gateway-client.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import { formatTable, type CliIo } from './output.js';
import { AUDIT_SYNOPSIS } from './synopses.js';

const FLAGS = {
  who: { type: 'string', value: 'WHO', description: 'only entries by this principal (operator:alice, node:n1, gateway)' },
  action: { type: 'string', value: 'PREFIX', description: 'only actions starting with this (access.denied, update.)' },
  since: { type: 'string', value: 'TIME', description: 'only entries at or after this RFC 3339 time (2026-01-31T12:00:00Z)' },
  limit: { type: 'string', value: 'N', description: 'at most N entries (default 100)' },
  json: { type: 'boolean', description: 'print {"entries": [...]} as JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

const MAX_LIMIT = 1_000_000;

export const auditUsage = (): string => `Usage: coap-fleet ${AUDIT_SYNOPSIS}\n\n`
  + 'The gateway\'s audit log, newest entry first (operators only).\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

export function auditTable(entries: readonly AuditView[]): string {
  const rows = [['AT', 'WHO', 'ACTION', 'TARGET', 'DETAIL'], ...entries.map((entry) => [entry.at, entry.who, entry.action, entry.target, entry.detail ?? ''])];
  return formatTable(rows);
}

export async function runAuditCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(auditUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const limit = parseNumber(flags.limit ?? '100', 'limit', { min: 1, max: MAX_LIMIT, integer: true });
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    const entries = await readAudit(gateway, { limit, filters: { who: flags.who, action: flags.action, since: flags.since } });
    io.stdout.write(flags.json === true ? `${JSON.stringify({ entries })}\n` : auditTable(entries));
  } finally {
    await gateway.close();
  }
  return 0;
}
