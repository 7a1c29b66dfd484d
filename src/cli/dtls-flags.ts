// The DTLS flags the client verbs and the plugtest server share (RFC 7252 §9.1.3): a PSK
// (identity and key, the key as text like libcoap's -k or in hex like openssl's -psk) or
// P-256 certificates from PEM files with the CA that vouches for the peer, or a client's
// credentials file from `keys generate` (src/fleet/credentials-file.ts). Turned into the
// credentials of a DTLS transport, with usage errors for what does not fit together.

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkPskIdentity, checkPskKey, pskKeyFromHex } from '../dtls/credentials.js';
import type { DtlsCredentials } from '../dtls/transport-options.js';
import { readCredentialsFile } from '../fleet/credentials-file.js';
import { UriError, type CoapUri } from '../protocol/uri.js';
import type { FlagValues } from './args.js';
import { UsageError } from './errors.js';

export const DTLS_FLAGS = {
  'psk-identity': { type: 'string', value: 'ID', description: 'DTLS with a pre-shared key: the PSK identity' },
  'psk-key': { type: 'string', value: 'KEY', description: 'the PSK as text (as libcoap\'s -k)' },
  'psk-key-hex': { type: 'string', value: 'HEX', description: 'the PSK in hex (as openssl\'s -psk), instead of --psk-key' },
  cert: { type: 'string', value: 'FILE', description: 'DTLS with certificates: our certificate (PEM, P-256)' },
  key: { type: 'string', value: 'FILE', description: 'the private key of --cert (PEM)' },
  ca: { type: 'string', value: 'FILE', description: 'the CA certificate(s) (PEM) the peer\'s certificate must chain to' },
} as const;

export type DtlsFlags = FlagValues<typeof DTLS_FLAGS>;

/** A PSK credentials file from `keys generate` (`{identity, key_hex}`), instead of the
 * PSK flags: the operator verbs and the request verbs take it alike. */
export const CREDENTIALS_FLAG = {
  credentials: { type: 'string', value: 'FILE', description: 'a PSK credentials file from `keys generate` (operator-NAME.json)' },
} as const;

/** The DTLS flags with the PSK of --credentials FILE filled in; with other DTLS flags
 * beside it, a usage error (which one was meant?). */
async function withCredentials(flags: DtlsFlags & { credentials?: string | undefined }): Promise<DtlsFlags> {
  const file = flags.credentials;
  if (file === undefined) return flags;
  if (hasDtlsFlags(flags)) throw new UsageError('--credentials does not combine with the other DTLS options');
  try {
    const { identity, key } = await readCredentialsFile(file);
    return { ...flags, 'psk-identity': identity, 'psk-key-hex': key.toString('hex') };
  } catch (error) {
    throw new UsageError(`--credentials: ${(error as Error).message}`, { cause: error });
  }
}

/** A client's DTLS credentials for `uri` from --credentials or the DTLS flags: none for
 * coap:// (where DTLS flags are a URI mistake), required for coaps://. */
export async function clientDtlsCredentials(uri: CoapUri, flags: DtlsFlags & { credentials?: string | undefined }): Promise<DtlsCredentials | undefined> {
  const dtls = await withCredentials(flags);
  if (uri.scheme === 'coap') {
    if (hasDtlsFlags(dtls)) throw new UriError('the DTLS options need a coaps:// URI');
    return undefined;
  }
  return dtlsClientCredentials(dtls, uri.host);
}

const PSK_FLAGS = ['psk-identity', 'psk-key', 'psk-key-hex'] as const;
const CERTIFICATE_FLAGS = ['cert', 'key', 'ca'] as const;

/** Whether any DTLS flag was given. */
export function hasDtlsFlags(flags: DtlsFlags): boolean {
  return [...PSK_FLAGS, ...CERTIFICATE_FLAGS].some((name) => flags[name] !== undefined);
}

async function readPem(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The PSK of --psk-key or --psk-key-hex, checked. */
function pskKey(flags: DtlsFlags): Buffer {
  if (flags['psk-key'] !== undefined && flags['psk-key-hex'] !== undefined) throw new UsageError('give --psk-key or --psk-key-hex, not both');
  try {
    if (flags['psk-key-hex'] !== undefined) return pskKeyFromHex(flags['psk-key-hex']);
    return checkPskKey(Buffer.from(flags['psk-key'] ?? '', 'utf8'));
  } catch (error) {
    throw new UsageError(`${flags['psk-key-hex'] === undefined ? '--psk-key' : '--psk-key-hex'}: ${(error as Error).message}`);
  }
}

function pskIdentity(flags: DtlsFlags): string {
  const identity = flags['psk-identity'];
  if (identity === undefined) throw new UsageError('a PSK needs --psk-identity');
  if (flags['psk-key'] === undefined && flags['psk-key-hex'] === undefined) throw new UsageError('--psk-identity needs --psk-key or --psk-key-hex');
  try {
    checkPskIdentity(identity);
  } catch (error) {
    throw new UsageError(`--psk-identity: ${(error as Error).message}`);
  }
  return identity;
}

function checkOneMode(flags: DtlsFlags): 'psk' | 'certificate' {
  const psk = PSK_FLAGS.filter((name) => flags[name] !== undefined);
  const certificate = CERTIFICATE_FLAGS.filter((name) => flags[name] !== undefined);
  if (psk.length > 0 && certificate.length > 0) throw new UsageError(`--${psk[0]} and --${certificate[0]} do not combine: DTLS uses a PSK or certificates`);
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new UsageError('--cert and --key go together');
  return psk.length > 0 ? 'psk' : 'certificate';
}

/** A client's credentials for a coaps:// URI to `host`. Certificates: --ca is required
 * (the server is verified), --cert/--key when the server asks for a client certificate;
 * the server's certificate must name `host` when it is a DNS name. */
async function dtlsClientCredentials(flags: DtlsFlags, host: string): Promise<DtlsCredentials> {
  if (!hasDtlsFlags(flags)) {
    throw new UsageError('coaps:// needs DTLS credentials: --psk-identity ID with --psk-key KEY (or --psk-key-hex HEX), or --ca FILE (with --cert FILE --key FILE)');
  }
  if (checkOneMode(flags) === 'psk') return { mode: 'psk', psk: { identity: pskIdentity(flags), key: pskKey(flags) } };
  if (flags.ca === undefined) throw new UsageError('certificates need --ca FILE to verify the server');
  const ca = await readPem(flags.ca, 'ca');
  const own = flags.cert === undefined || flags.key === undefined ? {}
    : { cert: await readPem(flags.cert, 'cert'), key: await readPem(flags.key, 'key') };
  return { mode: 'certificate', certificates: { ca, ...own }, ...(isIP(host) === 0 ? { serverName: host } : {}) };
}

/** A server's credentials: one PSK (the identity and key every client must use) or its
 * certificate, key and the CA that client certificates must chain to. */
export async function dtlsServerCredentials(flags: DtlsFlags): Promise<DtlsCredentials> {
  if (!hasDtlsFlags(flags)) {
    throw new UsageError('serving DTLS needs credentials: --psk-identity ID with --psk-key KEY (or --psk-key-hex HEX), or --cert FILE --key FILE --ca FILE');
  }
  if (checkOneMode(flags) === 'psk') {
    const identity = pskIdentity(flags);
    const key = pskKey(flags);
    return { mode: 'psk', pskLookup: (asked) => (asked === identity ? key : undefined) };
  }
  if (flags.cert === undefined || flags.key === undefined) throw new UsageError('a DTLS server needs --cert FILE and --key FILE');
  if (flags.ca === undefined) throw new UsageError('a DTLS server needs --ca FILE to verify client certificates');
  return {
    mode: 'certificate',
    certificates: { ca: await readPem(flags.ca, 'ca'), cert: await readPem(flags.cert, 'cert'), key: await readPem(flags.key, 'key') },
  };
}
