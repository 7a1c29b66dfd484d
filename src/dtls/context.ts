// A DTLS 1.2 configuration (one role, one mode, its credentials) and the sessions made from
// it: a client connects; a server first answers a new peer's ClientHello with a stateless
// HelloVerifyRequest cookie (RFC 6347 §4.2.1) and allocates a session only for a
// ClientHello that returns a valid cookie for its address. PSK keys come from a lookup
// callback (RFC 4279); certificates are P-256 with mutual authentication by default.

import type { Logger } from '../protocol/interfaces.js';
import {
  CERTIFICATE_LABELS, checkPem, checkPskIdentity, checkPskKey, PRIVATE_KEY_LABELS,
  type CertificateCredentials, type PskCredentials, type PskLookup,
} from './credentials.js';
import { DtlsError } from './errors.js';
import { DtlsSession, type DtlsSessionOptions, type SessionHost } from './session.js';
import { MAX_DATAGRAM, DtlsModule, type RevocationCheck } from './wasm-module.js';

export type DtlsRole = 'client' | 'server';
export type DtlsMode = 'psk' | 'certificate';

export interface DtlsContextOptions {
  readonly role: DtlsRole;
  /** 'psk': TLS_PSK_WITH_AES_128_CCM_8; 'certificate': TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
   * on P-256 (RFC 7252 §9.1.3); each with its ChaCha20-Poly1305 twin (RFC 7905) offered
   * first. One mode per context, so a peer cannot pick the other mode's suites. */
  readonly mode: DtlsMode;
  /** Default: the process-wide DtlsModule.shared(). */
  readonly module?: DtlsModule;
  /** Client, PSK mode: the identity it announces and its key. */
  readonly psk?: PskCredentials;
  /** Server, PSK mode: the key of an identity, or undefined when unknown. */
  readonly pskLookup?: PskLookup;
  /** Certificate mode: our chain and key (required on a server), and the trusted CA. */
  readonly certificates?: CertificateCredentials;
  /** Server, certificate mode: refuse clients without a certificate from the CA. Default true. */
  readonly requireClientCertificate?: boolean;
  /** Server, certificate mode: whether a client's (otherwise valid) certificate is revoked;
   * asked during every handshake, synchronously. Default: none is. */
  readonly revoked?: RevocationCheck;
  /** Client, certificate mode: the name the server's certificate must carry (CN or SAN).
   * Without it the server is authenticated by the CA alone. */
  readonly serverName?: string;
  /** Flight retransmission: first timeout, doubling up to the maximum, after which the
   * handshake fails (RFC 6347 §4.2.4.1). Default 1000 / 60000 ms. */
  readonly handshakeTimeout?: { readonly initialMs: number; readonly maxMs: number };
  /** Largest datagram we send (handshake flights are fragmented to fit). Default 1232:
   * IPv6's minimum MTU minus the IPv6 and UDP headers. */
  readonly mtu?: number;
  /** Offer RFC 9146 connection IDs of this many bytes (0: use the peer's, need none).
   * Default: not offered. */
  readonly connectionIdLength?: number;
  /** Records with a bad MAC a session tolerates before failing (0: no limit). Default 0:
   * an off-path attacker who spoofs the peer's address must not be able to end a session,
   * and the 64-bit CCM_8 tag is not worth brute-forcing. */
  readonly badMacLimit?: number;
  /** Monotonic milliseconds for retransmission deadlines. Default performance.now. */
  readonly clock?: () => number;
  readonly logger?: Logger;
}

/** What a server does with a datagram from a peer that has no session. */
export type AcceptResult =
  /** A ClientHello with a valid cookie: the new session (already answered it). */
  | { readonly kind: 'session'; readonly session: DtlsSession }
  /** A ClientHello without a valid cookie: send `reply` (a HelloVerifyRequest); nothing is kept. */
  | { readonly kind: 'verify'; readonly reply: Buffer }
  /** Anything else: drop it. */
  | { readonly kind: 'drop' };

const ModeCode = { psk: 0, certificate: 1 } as const;
const AuthMode = { none: 0, optional: 1, required: 2 } as const;

export class DtlsContext {
  readonly role: DtlsRole;
  readonly mode: DtlsMode;
  readonly module: DtlsModule;
  #config: number;
  readonly #sessions = new Set<DtlsSession>();
  readonly #host: SessionHost;
  readonly #pskLookup: PskLookup | undefined;
  readonly #revoked: RevocationCheck | undefined;

  /** Builds a context on the shared module (loading it on first use). */
  static async create(options: DtlsContextOptions): Promise<DtlsContext> {
    return new DtlsContext(options.module ?? await DtlsModule.shared(), options);
  }

  constructor(module: DtlsModule, options: DtlsContextOptions) {
    this.role = options.role;
    this.mode = options.mode;
    this.module = module;
    module.assertUsable();
    checkOptions(options);
    this.#pskLookup = options.pskLookup;
    this.#revoked = options.revoked;
    const { exports } = module;
    const config = exports.fleet_config_new(options.role === 'server' ? 1 : 0, ModeCode[options.mode]);
    if (config === 0) throw new DtlsError('DTLS_ERR_OUT_OF_MEMORY', 'cannot create a DTLS config (out of memory or no entropy)');
    this.#config = config;
    try {
      this.#configure(options);
    } catch (error) {
      exports.fleet_config_free(config);
      this.#config = 0;
      throw error;
    }
    const sessions = this.#sessions;
    this.#host = {
      module,
      role: options.role,
      mode: options.mode,
      clock: options.clock ?? (() => performance.now()),
      logger: options.logger,
      clientPskIdentity: options.role === 'client' && options.mode === 'psk' ? options.psk?.identity : undefined,
      hasOwnCertificate: options.certificates?.cert !== undefined,
      released: (session) => { sessions.delete(session); },
      restore: (peer, blob) => this.#restore(peer, blob),
    };
  }

  /** Sessions not yet closed or failed. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Certificate mode: our chain and key replaced (a renewed certificate, RFC 9148
   * re-enrollment) for the handshakes to come; established sessions keep theirs. Refused
   * while a handshake is under way, which may still use the old pair. */
  replaceOwnCertificate(cert: string, key: string): void {
    this.#assertOpen();
    if (this.mode !== 'certificate') throw new DtlsError('DTLS_ERR_CONFIG', 'only a certificate-mode context has a certificate to replace');
    if ([...this.#sessions].some((session) => session.state === 'handshaking')) {
      throw new DtlsError('DTLS_ERR_CONFIG', 'a handshake is under way: replace the certificate once it is over');
    }
    checkPem(cert, 'certificates.cert', CERTIFICATE_LABELS);
    checkPem(key, 'certificates.key', PRIVATE_KEY_LABELS);
    const { module } = this;
    module.withCopy(Buffer.from(cert, 'utf8'), (certPointer, certLength) =>
      module.withCopy(Buffer.from(key, 'utf8'), (keyPointer, keyLength) => {
        const rc = module.exports.fleet_config_set_own_cert(this.#config, certPointer, certLength, keyPointer, keyLength);
        if (rc !== 0) throw new DtlsError('DTLS_ERR_CONFIG', `cannot use the new certificate and key (mbedTLS error -0x${(-rc).toString(16)})`, { mbedtlsCode: rc });
      }, true), true);
  }

  /** Client: a new session whose ClientHello is already queued (outgoing() or onSend). */
  connect(options: DtlsSessionOptions & { readonly peer?: string } = {}): DtlsSession {
    if (this.role !== 'client') throw new DtlsError('DTLS_ERR_CONFIG', 'connect() needs a client context');
    const session = this.#newSession(options.peer ?? 'server', options);
    session.start();
    return session;
  }

  /** Server: the stateless first look at a datagram from `peer` (the transport's address
   * key; cookies are bound to it) that has no session yet. */
  accept(datagram: Uint8Array, peer: string, options: DtlsSessionOptions = {}): AcceptResult {
    if (this.role !== 'server') throw new DtlsError('DTLS_ERR_CONFIG', 'accept() needs a server context');
    this.#assertOpen();
    this.module.assertUsable();
    if (datagram.length === 0 || datagram.length > MAX_DATAGRAM) return { kind: 'drop' };
    const { exports } = this.module;
    const input = this.module.inputScratch;
    this.module.bytes().set(datagram, input);
    const verdict = this.module.withCopy(Buffer.from(peer, 'utf8'), (id, idLength) =>
      exports.fleet_listener_check(this.#config, id, idLength, input, datagram.length));
    if (verdict === 1) {
      return { kind: 'verify', reply: this.module.copyOut(exports.fleet_config_reply(this.#config), exports.fleet_config_reply_len(this.#config)) };
    }
    if (verdict !== 0) return { kind: 'drop' };
    // No bound here: the transport holds the session table and bounds it around this call
    // (transport-dtls.ts #accept: #roomForHandshake before, #boundHalfOpen and
    // #boundSessions after).
    const session = this.#newSession(peer, options);
    session.receive(datagram);
    return { kind: 'session', session };
  }

  /** Releases every session (without alerts) and the config. */
  close(): void {
    if (this.#config === 0) return;
    for (const session of [...this.#sessions]) session.destroy();
    this.module.exports.fleet_config_free(this.#config);
    this.#config = 0;
  }

  #newSession(peer: string, options: DtlsSessionOptions): DtlsSession {
    this.#assertOpen();
    this.module.assertUsable();
    const { exports } = this.module;
    const pointer = this.module.withCopy(Buffer.from(peer, 'utf8'), (id, idLength) =>
      exports.fleet_session_new(this.#config, id, idLength));
    if (pointer === 0) throw new DtlsError('DTLS_ERR_OUT_OF_MEMORY', 'cannot allocate a DTLS session');
    const lookup = this.#pskLookup;
    if (this.role === 'server' && this.mode === 'psk' && lookup !== undefined) {
      this.module.setPskResolver(pointer, (identity) => lookup(identity));
    }
    const session = new DtlsSession(this.#host, pointer, peer, options);
    const revoked = this.#revoked;
    if (this.role === 'server' && this.mode === 'certificate') {
      this.module.setRevocationCheck(pointer, (certificate) => {
        session.notePeerCertificate(certificate);
        return revoked?.(certificate) ?? false;
      });
    }
    this.#sessions.add(session);
    return session;
  }

  /** A hibernated session's module state back from its blob (DtlsSession.hibernate): the
   * new session pointer, 0 when the module refused the blob. */
  #restore(peer: string, blob: Uint8Array): number {
    this.#assertOpen();
    this.module.assertUsable();
    const { exports } = this.module;
    return this.module.withCopy(Buffer.from(peer, 'utf8'), (id, idLength) =>
      this.module.withCopy(blob, (pointer, length) => exports.fleet_session_load(this.#config, id, idLength, pointer, length)));
  }

  #assertOpen(): void {
    if (this.#config === 0) throw new DtlsError('DTLS_ERR_CONFIG', 'the DTLS context is closed');
  }

  #configure(options: DtlsContextOptions): void {
    const { module } = this;
    const { exports } = module;
    const config = this.#config;
    const check = (rc: number, what: string): void => {
      if (rc !== 0) throw new DtlsError('DTLS_ERR_CONFIG', `${what} (mbedTLS error -0x${(-rc).toString(16)})`, { mbedtlsCode: rc });
    };
    const timeout = options.handshakeTimeout ?? { initialMs: 1000, maxMs: 60000 };
    exports.fleet_config_set_timeouts(config, timeout.initialMs, timeout.maxMs);
    exports.fleet_config_set_mtu(config, options.mtu ?? 1232);
    exports.fleet_config_set_badmac_limit(config, options.badMacLimit ?? 0);
    if (options.connectionIdLength !== undefined) check(exports.fleet_config_set_cid(config, options.connectionIdLength), 'connection ID length not supported');
    if (options.mode === 'psk') {
      if (options.role === 'client') {
        const psk = options.psk!;
        const identity = checkPskIdentity(psk.identity);
        const key = checkPskKey(psk.key);
        module.withCopy(identity, (id, idLength) => module.withCopy(key, (k, kLength) =>
          check(exports.fleet_config_set_psk(config, id, idLength, k, kLength), 'cannot set the PSK')));
      }
    } else {
      const { ca, cert, key } = options.certificates!;
      const requireClient = options.requireClientCertificate ?? true;
      const verify = options.role === 'client' || requireClient;
      module.withCopy(Buffer.from(ca, 'utf8'), (pointer, length) =>
        check(exports.fleet_config_set_ca(config, pointer, length), 'cannot parse the CA certificate(s)'), true);
      if (cert !== undefined && key !== undefined) {
        module.withCopy(Buffer.from(cert, 'utf8'), (certPointer, certLength) =>
          module.withCopy(Buffer.from(key, 'utf8'), (keyPointer, keyLength) =>
            check(exports.fleet_config_set_own_cert(config, certPointer, certLength, keyPointer, keyLength),
              'cannot use the certificate and key (unparsable, encrypted, not P-256, or not a pair)'), true), true);
      }
      exports.fleet_config_set_authmode(config, verify ? AuthMode.required : AuthMode.none);
      if (options.serverName !== undefined) {
        module.withCopy(Buffer.from(options.serverName, 'utf8'), (pointer, length) =>
          check(exports.fleet_config_set_server_name(config, pointer, length), 'cannot set the server name'));
      }
    }
    check(exports.fleet_config_ready(config), 'incomplete DTLS configuration');
  }
}

function checkOptions(options: DtlsContextOptions): void {
  const fail = (message: string): never => { throw new DtlsError('DTLS_ERR_CONFIG', message); };
  if (options.role !== 'client' && options.role !== 'server') fail(`unknown role ${String(options.role)}`);
  if (options.mode === 'psk') {
    if (options.role === 'client' && options.psk === undefined) fail('a PSK client needs psk: { identity, key }');
    if (options.role === 'server' && options.pskLookup === undefined) fail('a PSK server needs pskLookup');
  } else if (options.mode === 'certificate') {
    const certificates = options.certificates ?? fail('certificate mode needs certificates: { ca, cert, key }');
    checkPem(certificates.ca, 'certificates.ca', CERTIFICATE_LABELS);
    if ((certificates.cert === undefined) !== (certificates.key === undefined)) fail('certificates.cert and certificates.key go together');
    if (certificates.cert !== undefined) checkPem(certificates.cert, 'certificates.cert', CERTIFICATE_LABELS);
    if (certificates.key !== undefined) checkPem(certificates.key, 'certificates.key', PRIVATE_KEY_LABELS);
    if (options.role === 'server' && certificates.cert === undefined) fail('a certificate-mode server needs its cert and key');
  } else {
    fail(`unknown mode ${String(options.mode)}`);
  }
  const timeout = options.handshakeTimeout;
  if (timeout !== undefined && !(timeout.initialMs >= 1 && timeout.maxMs >= timeout.initialMs)) fail('handshakeTimeout needs 1 <= initialMs <= maxMs');
  if (options.mtu !== undefined && !(options.mtu >= 256 && options.mtu <= 16384)) fail('mtu must be 256..16384');
}
