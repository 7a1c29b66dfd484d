// `coap-fleet nodes`: the gateway's registered nodes (src/operator's listNodes) as a table
// of version, presence and health, or as JSON.

import { openGateway } from '../operator/gateway-client.js';
import { listNodes } from '../operator/nodes.js';
import type { NodeView } from '../fleet/views.js';
import { formatFlags, parseArgs } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import { lossPercent, milliseconds } from './node-tables.js';
import { formatTable, type CliIo } from './output.js';

const FLAGS = {
  json: { type: 'boolean', description: 'print the gateway\'s JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const nodesUsage = (): string => `Usage: coap-fleet nodes [--gateway URI] [--credentials FILE] [--json]\n\nOptions:\n${formatFlags(FLAGS)}`;

export function nodesTable(nodes: readonly NodeView[]): string {
  const rows = [['NODE', 'VERSION', 'ONLINE', 'HEALTH', 'CPU%', 'MEM%', 'TEMP', 'LAST SEEN', 'RTT', 'LOSS']];
  for (const node of nodes) {
    const health = node.health;
    rows.push([
      node.node_id, node.version, node.online ? 'yes' : 'no', health?.status ?? '-',
      health === null ? '-' : health.cpu_percent.toFixed(1), health === null ? '-' : health.memory_percent.toFixed(1),
      health?.temperature === null || health === null ? '-' : `${health.temperature.toFixed(1)}°C`, node.last_seen,
      ...linkCells(node),
    ]);
  }
  return formatTable(rows);
}

/** The link's RTT (the agent's, else the gateway's) and loss; a node listed by a gateway
 * of an earlier release has no `link`. */
function linkCells(node: NodeView): string[] {
  const link = node.link ?? null;
  return link === null ? ['-', '-'] : [milliseconds(link.rtt_ms ?? link.gateway_rtt_ms), lossPercent(link.loss)];
}

export async function runNodesCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(nodesUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    const nodes = await listNodes(gateway);
    io.stdout.write(flags.json === true ? `${JSON.stringify({ nodes })}\n` : nodesTable(nodes));
  } finally {
    await gateway.close();
  }
  return 0;
}
