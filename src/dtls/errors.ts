// Typed errors of the DTLS layer: a stable `code` naming the reason a handshake or session
// failed (bad PSK, unknown identity, untrusted or expired certificate, timeout…), derived
// from mbedTLS's return code, the certificate verification flags and any alert the peer
// sent (RFC 5246 §7.2, RFC 4279 §2).

import { CoapError } from '../protocol/errors.js';

export type DtlsErrorCode =
  | 'DTLS_ERR_HANDSHAKE'
  | 'DTLS_ERR_HANDSHAKE_TIMEOUT'
  | 'DTLS_ERR_BAD_PSK'
  | 'DTLS_ERR_UNKNOWN_PSK_IDENTITY'
  | 'DTLS_ERR_CERT_UNTRUSTED'
  | 'DTLS_ERR_CERT_EXPIRED'
  | 'DTLS_ERR_CERT_REVOKED'
  | 'DTLS_ERR_CERT_REQUIRED'
  | 'DTLS_ERR_CERT_NAME_MISMATCH'
  | 'DTLS_ERR_CERT_INVALID'
  | 'DTLS_ERR_PEER_ALERT'
  | 'DTLS_ERR_PROTOCOL'
  | 'DTLS_ERR_NOT_ESTABLISHED'
  | 'DTLS_ERR_RECORD_TOO_LARGE'
  | 'DTLS_ERR_CONFIG'
  | 'DTLS_ERR_OUT_OF_MEMORY'
  | 'DTLS_ERR_MODULE';

export class DtlsError extends CoapError {
  declare readonly code: DtlsErrorCode;
  /** mbedTLS's return code, when the error came from the module. */
  readonly mbedtlsCode: number | undefined;
  /** The alert description the peer sent, when it sent one (RFC 5246 §7.2). */
  readonly alert: number | undefined;
  /** True when the peer decided (its alert), false when we did. */
  readonly byPeer: boolean;

  constructor(code: DtlsErrorCode, message: string,
    details: { mbedtlsCode?: number; alert?: number; byPeer?: boolean; cause?: unknown } = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.mbedtlsCode = details.mbedtlsCode;
    this.alert = details.alert;
    this.byPeer = details.byPeer ?? false;
  }
}

/** mbedTLS return codes the binding acts on (include/mbedtls/ssl.h, x509.h). */
export const MbedtlsCode = {
  SSL_WANT_READ: -0x6900,
  SSL_WANT_WRITE: -0x6880,
  SSL_TIMEOUT: -0x6800,
  SSL_CLIENT_RECONNECT: -0x6780,
  SSL_PEER_CLOSE_NOTIFY: -0x7880,
  SSL_FATAL_ALERT_MESSAGE: -0x7780,
  SSL_INVALID_MAC: -0x7180,
  SSL_NO_CLIENT_CERTIFICATE: -0x7480,
  SSL_UNKNOWN_IDENTITY: -0x6c80,
  SSL_ALLOC_FAILED: -0x7f00,
  SSL_HELLO_VERIFY_REQUIRED: -0x6a80,
  SSL_BAD_CONFIG: -0x5e80,
  X509_CERT_VERIFY_FAILED: -0x2700,
} as const;

/** Certificate verification flags (MBEDTLS_X509_BADCERT_*). */
const BadCert = {
  EXPIRED: 0x01,
  REVOKED: 0x02,
  CN_MISMATCH: 0x04,
  NOT_TRUSTED: 0x08,
  MISSING: 0x40,
  SKIP_VERIFY: 0x80,
  FUTURE: 0x0200,
} as const;

/** Alert descriptions (RFC 5246 §7.2, RFC 4279 §2, RFC 8446 §6.2). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  unknown_psk_identity: 115,
  certificate_required: 116,
} as const;

const alertNames = new Map<number, string>(Object.entries(AlertDescription).map(([name, value]) => [value, name]));
export const alertName = (alert: number): string => alertNames.get(alert) ?? `alert ${alert}`;

const hex = (code: number): string => `${code < 0 ? '-' : ''}0x${Math.abs(code).toString(16).padStart(4, '0')}`;

/** What the session knew when mbedTLS returned `mbedtlsCode`. */
export interface FailureContext {
  readonly mode: 'psk' | 'certificate';
  readonly handshaking: boolean;
  readonly verifyFlags: number;
  readonly alertReceived: number | undefined;
  readonly pskUnknown: boolean;
  /** Whether we presented a certificate (a certificate-mode client may have none). */
  readonly hasOwnCertificate: boolean;
}

/** Names the reason a session failed. */
export function errorFromMbedtls(mbedtlsCode: number, context: FailureContext): DtlsError {
  const base = { mbedtlsCode };
  const stage = context.handshaking ? 'handshake failed' : 'session failed';
  if (mbedtlsCode === MbedtlsCode.SSL_TIMEOUT) {
    return new DtlsError('DTLS_ERR_HANDSHAKE_TIMEOUT', 'handshake timed out: no answer after the last retransmission', base);
  }
  if (mbedtlsCode === MbedtlsCode.SSL_UNKNOWN_IDENTITY || context.pskUnknown) {
    return new DtlsError('DTLS_ERR_UNKNOWN_PSK_IDENTITY', `${stage}: the client's PSK identity is unknown`, base);
  }
  if (mbedtlsCode === MbedtlsCode.SSL_INVALID_MAC && context.handshaking) {
    return context.mode === 'psk'
      ? new DtlsError('DTLS_ERR_BAD_PSK', `${stage}: the peer's Finished did not verify (the PSKs differ)`, base)
      : new DtlsError('DTLS_ERR_HANDSHAKE', `${stage}: the peer's Finished did not verify`, base);
  }
  if (mbedtlsCode === MbedtlsCode.SSL_NO_CLIENT_CERTIFICATE) {
    return new DtlsError('DTLS_ERR_CERT_REQUIRED', `${stage}: the client sent no certificate`, base);
  }
  if (mbedtlsCode === MbedtlsCode.X509_CERT_VERIFY_FAILED) return certificateError(context.verifyFlags, stage, base);
  if (mbedtlsCode === MbedtlsCode.SSL_FATAL_ALERT_MESSAGE && context.alertReceived !== undefined) {
    return alertError(context.alertReceived, context, stage, mbedtlsCode);
  }
  if (mbedtlsCode === MbedtlsCode.SSL_ALLOC_FAILED) {
    return new DtlsError('DTLS_ERR_OUT_OF_MEMORY', `${stage}: the module is out of memory`, base);
  }
  return new DtlsError(context.handshaking ? 'DTLS_ERR_HANDSHAKE' : 'DTLS_ERR_PROTOCOL', `${stage}: mbedTLS error ${hex(mbedtlsCode)}`, base);
}

function certificateError(flags: number, stage: string, base: { mbedtlsCode: number }): DtlsError {
  const details = `(verification flags 0x${flags.toString(16)})`;
  if ((flags & (BadCert.MISSING | BadCert.SKIP_VERIFY)) !== 0) {
    return new DtlsError('DTLS_ERR_CERT_REQUIRED', `${stage}: the peer sent no certificate ${details}`, base);
  }
  if ((flags & BadCert.REVOKED) !== 0) {
    return new DtlsError('DTLS_ERR_CERT_REVOKED', `${stage}: the peer's certificate is revoked ${details}`, base);
  }
  if ((flags & BadCert.NOT_TRUSTED) !== 0) {
    return new DtlsError('DTLS_ERR_CERT_UNTRUSTED', `${stage}: the peer's certificate is not signed by a trusted CA ${details}`, base);
  }
  if ((flags & (BadCert.EXPIRED | BadCert.FUTURE)) !== 0) {
    return new DtlsError('DTLS_ERR_CERT_EXPIRED', `${stage}: the peer's certificate is expired or not yet valid ${details}`, base);
  }
  if ((flags & BadCert.CN_MISMATCH) !== 0) {
    return new DtlsError('DTLS_ERR_CERT_NAME_MISMATCH', `${stage}: the peer's certificate does not name the expected server ${details}`, base);
  }
  return new DtlsError('DTLS_ERR_CERT_INVALID', `${stage}: the peer's certificate was rejected ${details}`, base);
}

function alertError(alert: number, context: FailureContext, stage: string, mbedtlsCode: number): DtlsError {
  const details = { mbedtlsCode, alert, byPeer: true };
  const { mode } = context;
  const said = `${stage}: the peer sent ${alertName(alert)}`;
  switch (alert) {
    case AlertDescription.unknown_psk_identity:
      return new DtlsError('DTLS_ERR_UNKNOWN_PSK_IDENTITY', `${said}: it does not know our PSK identity`, details);
    case AlertDescription.bad_record_mac:
    case AlertDescription.decrypt_error:
      return mode === 'psk'
        ? new DtlsError('DTLS_ERR_BAD_PSK', `${said}: our Finished did not verify (the PSKs differ)`, details)
        : new DtlsError('DTLS_ERR_HANDSHAKE', said, details);
    case AlertDescription.unknown_ca:
      return new DtlsError('DTLS_ERR_CERT_UNTRUSTED', `${said}: it does not trust our certificate's CA`, details);
    case AlertDescription.certificate_expired:
      return new DtlsError('DTLS_ERR_CERT_EXPIRED', `${said}: it considers our certificate expired`, details);
    case AlertDescription.certificate_revoked:
      return new DtlsError('DTLS_ERR_CERT_REVOKED', `${said}: it considers our certificate revoked`, details);
    case AlertDescription.handshake_failure:
      // TLS 1.2's answer to a client without the certificate the server requires (RFC 5246 §7.4.6).
      return mode === 'certificate' && !context.hasOwnCertificate
        ? new DtlsError('DTLS_ERR_CERT_REQUIRED', `${said}: it requires a client certificate and we have none`, details)
        : new DtlsError('DTLS_ERR_HANDSHAKE', said, details);
    case AlertDescription.certificate_required:
      return new DtlsError('DTLS_ERR_CERT_REQUIRED', `${said}: it requires a certificate`, details);
    case AlertDescription.bad_certificate:
    case AlertDescription.unsupported_certificate:
    case AlertDescription.certificate_unknown:
      return new DtlsError('DTLS_ERR_CERT_INVALID', `${said}: it rejected our certificate`, details);
    default:
      return new DtlsError('DTLS_ERR_PEER_ALERT', said, details);
  }
}
