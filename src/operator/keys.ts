// Generating a fleet's keys (DESIGN §6): the publisher's Ed25519 key pair (manifests are
// signed with it offline; agents pin its public half), the operator's Ed25519 command
// key pair (destructive commands are signed with it; agents pin its public half) and
// DTLS PSK credentials for the gateway, an operator and nodes (also all the nodes' in one
// file, for the fleet simulator). Secrets are written 0600 and never overwritten unless
// asked. Tens of thousands of nodes take seconds: the files are written a batch at a time.

import { generateKeyPairSync, randomBytes, type KeyPairKeyObjectResult } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCredentialsFile, type PskCredential } from '../fleet/credentials-file.js';
import {
  DASHBOARD_TOKENS_FILE, dashboardTokenFile, formatDashboardTokens, hashDashboardToken, newDashboardToken,
} from '../fleet/dashboard-tokens.js';
import { isValidId } from '../fleet/paths.js';
import { COMMAND_KEY_FILE } from './command-key.js';
import { InvalidIdError, KeysExistError } from './errors.js';

/** 128-bit PSKs, as the CoAP mandatory suite's AES-128 keys (RFC 7252 §9.1.3.1). */
const PSK_BYTES = 16;
/** Files written at once: enough to keep the disk busy, few enough for any fd limit. */
const WRITE_BATCH = 64;
/** Every node's identity and key, in the gateway's PSK file format (`coap-fleet simulate`). */
export const NODES_PSK_FILE = 'nodes-psk.json';

export interface GeneratedKeys {
  readonly directory: string;
  readonly files: readonly string[];
}

function checkIds(nodeIds: readonly string[], operator: string): void {
  for (const id of [...nodeIds, operator]) {
    if (!isValidId(id)) throw new InvalidIdError(`${JSON.stringify(id)} is not a valid id (1-64 of [A-Za-z0-9._-])`);
  }
  if (new Set(nodeIds).size !== nodeIds.length) throw new InvalidIdError('node ids must be distinct');
}

/** The operator's dashboard login (issue 15): the secret for the operator, its hash for
 * the gateway (`dashboard_tokens_file`), both 0600. */
function dashboardTokenFiles(operator: string, text: (content: string, mode: number) => (path: string) => Promise<void>): (readonly [string, (path: string) => Promise<void>])[] {
  const token = newDashboardToken();
  return [
    [dashboardTokenFile(operator), text(`${token}\n`, 0o600)],
    [DASHBOARD_TOKENS_FILE, text(formatDashboardTokens([{ principal: `operator:${operator}`, sha256: hashDashboardToken(token) }]), 0o600)],
  ];
}

/** Writes a fresh set into `directory` (created 0700 if missing): publisher.key and
 * publisher.pub, operator-command.key and operator-command.pub, gateway-psk.json (every
 * identity's key, for the gateway), nodes-psk.json (the nodes' alone, for the simulator),
 * operator-NAME.json and node-ID.json (one credentials file each), dashboard-token-NAME.txt
 * and dashboard-tokens.json (the dashboard login and its hash). Existing files are
 * refused with KeysExistError unless `overwrite`. */
export async function generateKeys(directory: string, nodeIds: readonly string[], operator: string, overwrite: boolean): Promise<GeneratedKeys> {
  checkIds(nodeIds, operator);
  const pemPair = (pair: KeyPairKeyObjectResult): { key: string; pub: string } => ({
    key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
  const publisher = pemPair(generateKeyPairSync('ed25519'));
  const command = pemPair(generateKeyPairSync('ed25519'));
  const psk = (identity: string): PskCredential => ({ identity, key: randomBytes(PSK_BYTES) });
  const operatorCredential = psk(`operator:${operator}`);
  const nodeCredentials = nodeIds.map((id) => psk(`node:${id}`));
  const table = (credentials: readonly PskCredential[]): string =>
    `${JSON.stringify(Object.fromEntries(credentials.map((c) => [c.identity, c.key.toString('hex')])), null, 2)}\n`;
  const text = (content: string, mode: number) => (path: string): Promise<void> => writeFile(path, content, { mode });
  const credential = (value: PskCredential) => (path: string): Promise<void> => writeCredentialsFile(path, value);
  const files: (readonly [name: string, write: (path: string) => Promise<void>])[] = [
    ['publisher.key', text(publisher.key, 0o600)],
    ['publisher.pub', text(publisher.pub, 0o644)],
    [COMMAND_KEY_FILE, text(command.key, 0o600)],
    ['operator-command.pub', text(command.pub, 0o644)],
    ['gateway-psk.json', text(table([operatorCredential, ...nodeCredentials]), 0o600)],
    [NODES_PSK_FILE, text(table(nodeCredentials), 0o600)],
    [`operator-${operator}.json`, credential(operatorCredential)],
    ...nodeCredentials.map((value, i) => [`node-${nodeIds[i]}.json`, credential(value)] as const),
    ...dashboardTokenFiles(operator, text),
  ];
  if (!overwrite) {
    const existing = files.map(([name]) => name).filter((name) => existsSync(join(directory, name)));
    if (existing.length > 0) throw new KeysExistError(directory, existing);
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  for (let first = 0; first < files.length; first += WRITE_BATCH) {
    await Promise.all(files.slice(first, first + WRITE_BATCH).map(([name, write]) => write(join(directory, name))));
  }
  return { directory, files: files.map(([name]) => join(directory, name)) };
}
