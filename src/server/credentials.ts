// The gateway's DTLS credentials from its config (DESIGN §6): a PSK file as written by
// `coap-fleet keys generate` ({"node:n1": "<hex key>", "operator:alice": …}: the identity is
// the principal), or a certificate chain, its key and the CA that signs peer certificates
// (the subject's CN is the principal). Read and checked at start: a ConfigError otherwise.

import { readFile } from 'node:fs/promises';
import { checkPskIdentity, pskKeyFromHex, type CertificateCredentials, type PskLookup } from '../dtls/credentials.js';
import type { GatewayConfig } from './config.js';
import { ConfigError } from './errors.js';

export type DtlsServerCredentials =
  | { readonly mode: 'psk'; readonly pskLookup: PskLookup; readonly identities: number }
  | { readonly mode: 'certificate'; readonly certificates: CertificateCredentials };

/** A credential file's text, or a ConfigError naming its setting. */
export async function readText(key: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The PSK table: identity to key, every entry checked. */
export async function loadPskFile(path: string): Promise<Map<string, Buffer>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readText('psk_file', path));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`psk_file: ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`psk_file: ${path} must hold an object of "identity": "hex key"`);
  }
  const keys = new Map<string, Buffer>();
  for (const [identity, hex] of Object.entries(parsed)) {
    try {
      checkPskIdentity(identity);
      if (typeof hex !== 'string') throw new Error('the key must be a hex string');
      keys.set(identity, pskKeyFromHex(hex));
    } catch (error) {
      throw new ConfigError(`psk_file: ${path}: identity ${JSON.stringify(identity)}: ${(error as Error).message}`);
    }
  }
  if (keys.size === 0) throw new ConfigError(`psk_file: ${path} holds no identities`);
  return keys;
}

export async function loadDtlsCredentials(config: GatewayConfig): Promise<DtlsServerCredentials> {
  if (config.psk_file !== null) {
    const keys = await loadPskFile(config.psk_file);
    return { mode: 'psk', pskLookup: (identity) => keys.get(identity), identities: keys.size };
  }
  if (config.cert_file === null || config.key_file === null || config.ca_file === null) {
    throw new ConfigError('dtls_port needs credentials: psk_file, or cert_file, key_file and ca_file');
  }
  return {
    mode: 'certificate',
    certificates: {
      cert: await readText('cert_file', config.cert_file),
      key: await readText('key_file', config.key_file),
      ca: await readText('ca_file', config.ca_file),
    },
  };
}
