// The credentials file of one DTLS PSK client (DESIGN §6): `{"identity": "node:n1",
// "key_hex": "…"}`, written by `keys generate` as operator-NAME.json and node-ID.json, read
// by the operator's commands and by the agent. The one definition of that format; the
// agent also takes a file that holds only the key in hex (its identity then comes from its
// config).

import { readFile, writeFile } from 'node:fs/promises';
import { CredentialsFileError } from './errors.js';

/** Longest PSK the DTLS module takes (MBEDTLS_PSK_MAX_LEN, as src/dtls/credentials.ts). */
const MAX_KEY_BYTES = 64;
const KEY_HEX = new RegExp(`^(?:[0-9a-fA-F]{2}){1,${MAX_KEY_BYTES}}$`);

export interface PskCredential {
  readonly identity: string;
  readonly key: Buffer;
}

/** What a file holds: the identity is absent when the file is the key in hex alone. */
export interface CredentialsFileContent {
  readonly identity: string | undefined;
  readonly key: Buffer;
}

/** The file's text for one identity and key. */
function formatCredentialsFile(credential: { readonly identity: string; readonly key: Uint8Array }): string {
  return `${JSON.stringify({ identity: credential.identity, key_hex: Buffer.from(credential.key).toString('hex') }, null, 2)}\n`;
}

/** Writes the file readable by its owner only (0600): it holds a secret. */
export async function writeCredentialsFile(path: string, credential: { readonly identity: string; readonly key: Uint8Array }): Promise<void> {
  await writeFile(path, formatCredentialsFile(credential), { mode: 0o600 });
}

/** The identity (when named) and key of a file's text; a CredentialsFileError says what
 * is wrong, without the file's name (the caller knows it). */
export function parseCredentialsFile(content: string): CredentialsFileContent {
  let identity: string | undefined;
  let hex = content.trim();
  if (hex.startsWith('{')) {
    let value: { identity?: unknown; key_hex?: unknown } | null;
    try {
      value = JSON.parse(hex) as typeof value;
    } catch (error) {
      throw new CredentialsFileError(`not JSON: ${(error as Error).message}`);
    }
    if (typeof value?.key_hex !== 'string') throw new CredentialsFileError('no "key_hex" string');
    if (value.identity !== undefined && (typeof value.identity !== 'string' || value.identity === '')) {
      throw new CredentialsFileError('"identity" must be a non-empty string');
    }
    identity = value.identity;
    hex = value.key_hex;
  }
  if (!KEY_HEX.test(hex)) throw new CredentialsFileError(`the key must be 1..${MAX_KEY_BYTES} bytes in hex`);
  return { identity, key: Buffer.from(hex, 'hex') };
}

/** A client's credentials from `keys generate`'s file, which must name its identity; the
 * errors name the file. */
export async function readCredentialsFile(path: string): Promise<PskCredential> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw new CredentialsFileError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  let parsed: CredentialsFileContent;
  try {
    parsed = parseCredentialsFile(content);
  } catch (error) {
    throw new CredentialsFileError(`${path}: ${(error as Error).message}`, { cause: error });
  }
  if (parsed.identity === undefined) throw new CredentialsFileError(`${path} names no identity: expected {"identity", "key_hex"} from keys generate`);
  return { identity: parsed.identity, key: parsed.key };
}
