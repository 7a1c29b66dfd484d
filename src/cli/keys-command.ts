// `coap-fleet keys generate`: the publisher's Ed25519 key pair (manifests are signed with
// it offline; agents pin its public half) and DTLS PSK credentials for the gateway, an
// operator and N nodes (DESIGN §6). Secrets are written 0600 and never overwritten
// unless --force says so.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidId } from '../fleet/paths.js';
import { formatFlags, parseArgs, parseNumber, UsageError } from './args.js';
import type { CliIo } from './output.js';

const FLAGS = {
  out: { type: 'string', value: 'DIR', description: 'where to write the files (created if missing)' },
  nodes: { type: 'string', value: 'N', description: 'credentials for nodes node-1..node-N (default 5)' },
  'node-ids': { type: 'string', value: 'a,b,c', description: 'credentials for these node ids instead' },
  operator: { type: 'string', value: 'NAME', description: 'the operator\'s name (default admin)' },
  force: { type: 'boolean', description: 'overwrite existing files' },
  json: { type: 'boolean', description: 'print what was written as JSON' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const keysUsage = (): string => 'Usage: coap-fleet keys generate --out DIR [--nodes N | --node-ids a,b,c] [--operator NAME]\n\n'
  + 'Writes publisher.key / publisher.pub (Ed25519, PEM: sign manifests, pin in agents),\n'
  + 'gateway-psk.json (every DTLS PSK identity and key, for the gateway), operator-NAME.json\n'
  + 'and node-ID.json (one identity and key each, for the CLI and the agents).\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

export interface PskCredential {
  readonly identity: string;
  readonly key_hex: string;
}

export interface GeneratedKeys {
  readonly directory: string;
  readonly files: readonly string[];
}

/** Writes a fresh set of keys; the pure part of the command, for the demo and tests. */
export async function generateKeys(directory: string, nodeIds: readonly string[], operator: string, force: boolean): Promise<GeneratedKeys> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const credentials: PskCredential[] = [
    { identity: `operator:${operator}`, key_hex: randomBytes(16).toString('hex') },
    ...nodeIds.map((id) => ({ identity: `node:${id}`, key_hex: randomBytes(16).toString('hex') })),
  ];
  const files: [string, string, number][] = [
    ['publisher.key', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600],
    ['publisher.pub', publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644],
    ['gateway-psk.json', `${JSON.stringify(Object.fromEntries(credentials.map((c) => [c.identity, c.key_hex])), null, 2)}\n`, 0o600],
    [`operator-${operator}.json`, `${JSON.stringify(credentials[0], null, 2)}\n`, 0o600],
    ...credentials.slice(1).map((credential, i): [string, string, number] => [`node-${nodeIds[i]}.json`, `${JSON.stringify(credential, null, 2)}\n`, 0o600]),
  ];
  if (!force) {
    const existing = files.map(([name]) => name).filter((name) => existsSync(join(directory, name)));
    if (existing.length > 0) throw new UsageError(`${existing.join(', ')} exist in ${directory}: use --force to overwrite`);
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  for (const [name, content, mode] of files) await writeFile(join(directory, name), content, { mode });
  return { directory, files: files.map(([name]) => join(directory, name)) };
}

export async function runKeysCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(keysUsage());
    return 0;
  }
  if (positionals[0] !== 'generate' || positionals.length !== 1) throw new UsageError('expected: keys generate --out DIR');
  if (flags.out === undefined) throw new UsageError('--out DIR is required');
  if (flags.nodes !== undefined && flags['node-ids'] !== undefined) throw new UsageError('give --nodes or --node-ids, not both');
  const nodeIds = flags['node-ids'] !== undefined
    ? flags['node-ids'].split(',').map((id) => id.trim())
    : Array.from({ length: parseNumber(flags.nodes ?? '5', 'nodes', { min: 0, max: 10_000, integer: true }) }, (_, i) => `node-${i + 1}`);
  const operator = flags.operator ?? 'admin';
  for (const id of [...nodeIds, operator]) if (!isValidId(id)) throw new UsageError(`${JSON.stringify(id)} is not a valid id (1-64 of [A-Za-z0-9._-])`);
  if (new Set(nodeIds).size !== nodeIds.length) throw new UsageError('node ids must be distinct');
  const generated = await generateKeys(flags.out, nodeIds, operator, flags.force === true);
  io.stdout.write(flags.json === true ? `${JSON.stringify(generated)}\n` : `${generated.files.join('\n')}\n`);
  return 0;
}
