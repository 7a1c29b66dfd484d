// The DTLS package's public face: the transport, the endpoint factory, contexts and
// sessions for those who drive DTLS themselves, credentials and typed errors.

export { DtlsContext, type AcceptResult, type DtlsContextOptions, type DtlsMode, type DtlsRole } from './context.js';
export {
  checkPskIdentity, checkPskKey, pskKeyFromHex,
  type CertificateCredentials, type PskCredentials, type PskLookup,
} from './credentials.js';
export { createDtlsEndpoint, DtlsEndpoint, type DtlsEndpointOptions } from './dtls-endpoint.js';
export { DtlsError, type DtlsErrorCode } from './errors.js';
export { DtlsSession, type DtlsCloseReason, type DtlsSessionState } from './session.js';
export {
  DEFAULT_DTLS_LIMITS, DtlsTransport,
  type DtlsTransportCounters, type DtlsTransportLimits, type DtlsTransportOptions, type DtlsTransportStats, type HandshakeErrorListener,
} from './transport-dtls.js';
export { DtlsModule, type HeapStats, type PeerCertificate, type RevocationCheck } from './wasm-module.js';
