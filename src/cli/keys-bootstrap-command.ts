// `coap-fleet keys bootstrap`: a single-use, expiring enrollment credential for one node,
// asked of the gateway as an operator (src/operator/enrollment.ts), written for the agent.

import { createBootstrapCredential } from '../operator/enrollment.js';
import { openGateway } from '../operator/gateway-client.js';
import { formatFlags, parseArgs, spanSeconds } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import type { CliIo } from './output.js';

const FLAGS = {
  node: { type: 'string', value: 'ID', description: 'the node it enrolls' },
  expires: { type: 'string', value: 'SPAN', description: 'how long it is valid (30m, 1h, 2d; default 1h)' },
  out: { type: 'string', value: 'FILE', description: 'where to write it (default bootstrap-ID.json), 0600' },
  json: { type: 'boolean', description: 'print the identity and expiry as JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const keysBootstrapUsage = (): string => 'Usage: coap-fleet keys bootstrap --node ID [--expires 1h] [--out FILE] [--gateway URI] [credentials]\n\n'
  + 'Asks the gateway (as an operator) for a bootstrap PSK for one node: single use, expiring.\n'
  + 'The agent with it as bootstrap_file enrolls (RFC 9148 EST /sen on the gateway\'s est_port),\n'
  + 'keeps its key and certificate, and runs on them.\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

export async function runBootstrapCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(keysBootstrapUsage());
    return 0;
  }
  if (positionals.length !== 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  if (flags.node === undefined) throw new UsageError('--node ID is required');
  const expiresS = spanSeconds(flags.expires ?? '1h');
  if (expiresS === undefined) throw new UsageError(`--expires must be a span like 30m, 1h or 2d, not ${JSON.stringify(flags.expires)}`);
  const file = flags.out ?? `bootstrap-${flags.node}.json`;
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    const credential = await createBootstrapCredential(gateway, flags.node, expiresS, file);
    io.stdout.write(flags.json === true ? `${JSON.stringify({ file, identity: credential.identity, expires_at: credential.expires_at })}\n`
      : `${file}\n${credential.identity}, single use, expires ${credential.expires_at}\n`);
    return 0;
  } finally {
    await gateway.close();
  }
}
