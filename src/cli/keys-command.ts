// `coap-fleet keys generate` (and, in keys-certificates-command.ts, `keys ca init` and
// `keys issue`): flags in, src/operator's generateKeys (the publisher's
// Ed25519 pair and DTLS PSK credentials for the gateway, an operator and nodes), the
// files written out.

import { InvalidIdError, KeysExistError } from '../operator/errors.js';
import { generateKeys } from '../operator/keys.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { keysCertificatesUsage, runCaInitCommand, runIssueCommand } from './keys-certificates-command.js';
import { keysRevokeUsage, runRevokeCommand } from './keys-revoke-command.js';
import { keysBootstrapUsage, runBootstrapCommand } from './keys-bootstrap-command.js';
import { UsageError } from './errors.js';
import type { CliIo } from './output.js';

/** As many as `coap-fleet simulate` runs. */
const MAX_NODES = 100_000;

const FLAGS = {
  out: { type: 'string', value: 'DIR', description: 'where to write the files (created if missing)' },
  nodes: { type: 'string', value: 'N', description: `credentials for nodes node-1..node-N (default 5, at most ${MAX_NODES})` },
  'node-ids': { type: 'string', value: 'a,b,c', description: 'credentials for these node ids instead' },
  operator: { type: 'string', value: 'NAME', description: 'the operator\'s name (default admin)' },
  force: { type: 'boolean', description: 'overwrite existing files' },
  json: { type: 'boolean', description: 'print what was written as JSON' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const keysUsage = (): string => 'Usage: coap-fleet keys generate --out DIR [--nodes N | --node-ids a,b,c] [--operator NAME]\n\n'
  + 'Writes publisher.key / publisher.pub (Ed25519, PEM: sign manifests, pin in agents),\n'
  + 'operator-command.key / operator-command.pub (Ed25519: sign remote commands, pin in agents),\n'
  + 'gateway-psk.json (every DTLS PSK identity and key, for the gateway), nodes-psk.json (the\n'
  + 'nodes\' alone, for coap-fleet simulate), operator-NAME.json and node-ID.json (one identity\n'
  + 'and key each, for the CLI and the agents), dashboard-token-NAME.txt (the operator\'s\n'
  + 'dashboard login token) and dashboard-tokens.json (its SHA-256, for the gateway\'s\n'
  + 'dashboard_tokens_file).\n\n'
  + `Options:\n${formatFlags(FLAGS)}\n${keysCertificatesUsage()}\n${keysRevokeUsage()}\n${keysBootstrapUsage()}`;

/** Keys that exist, or ids that are not valid, as usage errors. */
function blameFlag(error: unknown): unknown {
  if (error instanceof KeysExistError) return new UsageError(`${error.message}: use --force to overwrite`, { cause: error });
  if (error instanceof InvalidIdError) return new UsageError(error.message, { cause: error });
  return error;
}

export async function runKeysCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === 'ca' && argv[1] === 'init') return runCaInitCommand(argv.slice(2), io);
  if (argv[0] === 'issue') return runIssueCommand(argv.slice(1), io);
  if (argv[0] === 'bootstrap') return runBootstrapCommand(argv.slice(1), io);
  if (argv[0] === 'revoke' || argv[0] === 'revoked') return runRevokeCommand(argv[0] === 'revoked', argv.slice(1), io);
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(keysUsage());
    return 0;
  }
  if (positionals[0] !== 'generate' || positionals.length !== 1) throw new UsageError('expected: keys generate --out DIR, keys ca init or keys issue');
  if (flags.out === undefined) throw new UsageError('--out DIR is required');
  if (flags.nodes !== undefined && flags['node-ids'] !== undefined) throw new UsageError('give --nodes or --node-ids, not both');
  const nodeIds = flags['node-ids'] !== undefined
    ? flags['node-ids'].split(',').map((id) => id.trim())
    : Array.from({ length: parseNumber(flags.nodes ?? '5', 'nodes', { min: 0, max: MAX_NODES, integer: true }) }, (_, i) => `node-${i + 1}`);
  const generated = await generateKeys(flags.out, nodeIds, flags.operator ?? 'admin', flags.force === true).catch((error: unknown) => {
    throw blameFlag(error);
  });
  io.stdout.write(flags.json === true ? `${JSON.stringify(generated)}\n` : `${generated.files.join('\n')}\n`);
  return 0;
}
