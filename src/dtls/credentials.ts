// What a DTLS peer authenticates with: a PSK identity and key (RFC 4279; the client's own,
// or the server's lookup so keys can live in the store), or P-256 certificates in PEM with
// the CA that vouches for peers (RFC 7252 §9.1.3.3). Checked here, before the module sees
// them, so a bad config fails with a clear DTLS_ERR_CONFIG.

import { DtlsError } from './errors.js';

/** A client's PSK: the identity it announces and the key both sides share. */
export interface PskCredentials {
  readonly identity: string;
  readonly key: Uint8Array;
}

/** A server's PSK lookup: the key for an identity, or undefined when it is unknown. Called
 * synchronously during the handshake; an exception counts as unknown. */
export type PskLookup = (identity: string) => Uint8Array | undefined;

/** Certificate mode: our certificate chain and private key (PEM), and the CA certificates
 * (PEM, one or more) the peer's certificate must chain to. */
export interface CertificateCredentials {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Longest PSK the module accepts (MBEDTLS_PSK_MAX_LEN). */
export const MAX_PSK_LENGTH = 64;
/** Longest PSK identity (RFC 4279 §5.3 allows 2^16-1; ours are short names). */
export const MAX_PSK_IDENTITY_LENGTH = 255;

/** A PSK from its hex form, as `openssl s_server -psk` and libcoap's `-k` take it. */
export function pskKeyFromHex(hex: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new DtlsError('DTLS_ERR_CONFIG', 'a PSK in hex needs an even number of hex digits');
  return checkPskKey(Buffer.from(hex, 'hex'));
}

export function checkPskKey(key: Uint8Array): Buffer {
  if (key.length === 0 || key.length > MAX_PSK_LENGTH) {
    throw new DtlsError('DTLS_ERR_CONFIG', `a PSK must be 1..${MAX_PSK_LENGTH} bytes, got ${key.length}`);
  }
  return Buffer.from(key);
}

export function checkPskIdentity(identity: string): Buffer {
  const bytes = Buffer.from(identity, 'utf8');
  if (bytes.length === 0 || bytes.length > MAX_PSK_IDENTITY_LENGTH) {
    throw new DtlsError('DTLS_ERR_CONFIG', `a PSK identity must be 1..${MAX_PSK_IDENTITY_LENGTH} bytes of UTF-8`);
  }
  return bytes;
}

/** Checks that text holds at least one PEM block of the given kind(s). */
export function checkPem(text: string, what: string, labels: readonly string[]): string {
  const found = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((match) => match[1]);
  if (!found.some((label) => label !== undefined && labels.includes(label))) {
    throw new DtlsError('DTLS_ERR_CONFIG', `${what} must be PEM (${labels.map((label) => `BEGIN ${label}`).join(' or ')})`);
  }
  return text;
}

export const CERTIFICATE_LABELS = ['CERTIFICATE'] as const;
export const PRIVATE_KEY_LABELS = ['EC PRIVATE KEY', 'PRIVATE KEY'] as const;
