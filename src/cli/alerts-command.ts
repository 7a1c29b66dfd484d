// `coap-fleet alerts [--all] [--watch] [--json]` and `coap-fleet alerts ack ID`: the
// gateway's alerts (src/operator/alerts.ts) as a table or JSON, watched until SIGINT or
// SIGTERM with --watch; an operator's acknowledgement.

import type { AlertView } from '../fleet/views.js';
import { acknowledgeAlert, listAlerts, watchAlerts } from '../operator/alerts.js';
import { openGateway } from '../operator/gateway-client.js';
import { formatFlags, parseArgs } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import { formatTable, type CliIo } from './output.js';

const FLAGS = {
  all: { type: 'boolean', description: 'the cleared alerts kept too, not only the active ones' },
  watch: { type: 'boolean', description: 'observe the list and print it at every change until Ctrl-C' },
  json: { type: 'boolean', description: 'print the gateway\'s JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const alertsUsage = (): string => 'Usage: coap-fleet alerts [--all] [--watch] [--json] [--gateway URI] [--credentials FILE]\n'
  + '       coap-fleet alerts ack ID [--gateway URI] [--credentials FILE]\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

export function alertsTable(alerts: readonly AlertView[]): string {
  if (alerts.length === 0) return 'no alerts\n';
  const rows = [['ID', 'NODE', 'KIND', 'SEVERITY', 'RAISED', 'CLEARED', 'ACKED BY', 'DETAIL']];
  for (const alert of alerts) {
    rows.push([alert.id, alert.node_id, alert.kind, alert.severity, alert.raised_at, alert.cleared_at ?? '-', alert.acknowledged_by ?? '-', alert.detail]);
  }
  return formatTable(rows);
}

export async function runAlertsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(alertsUsage());
    return 0;
  }
  const [verb, id, ...rest] = positionals;
  if (verb !== undefined && (verb !== 'ack' || id === undefined || rest.length > 0)) throw new UsageError('expected: alerts [--watch] or alerts ack ID');
  const json = flags.json === true;
  const show = (alerts: AlertView[]): void => { io.stdout.write(json ? `${JSON.stringify({ alerts })}\n` : alertsTable(alerts)); };
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    if (id !== undefined) {
      const alert = await acknowledgeAlert(gateway, id);
      io.stdout.write(json ? `${JSON.stringify(alert)}\n` : `alert ${alert.id} acknowledged by ${alert.acknowledged_by}${alert.cleared_at === null ? ' (still active)' : ''}\n`);
    } else if (flags.watch === true) {
      await watchAlerts(gateway, flags.all === true ? 'all' : 'active', show, io.shutdown());
    } else {
      show(await listAlerts(gateway, flags.all === true ? 'all' : 'active'));
    }
  } finally {
    await gateway.close();
  }
  return 0;
}
