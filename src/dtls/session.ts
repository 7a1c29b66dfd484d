// One DTLS 1.2 session (RFC 6347) over the WebAssembly module: datagrams in, application
// records out, datagrams to send collected after every call. An explicit state machine
// (handshaking → established → closed, or → failed with a typed error). No timers inside:
// the caller asks nextTimeoutMs() and calls onTimer(), and the flight is retransmitted
// (RFC 6347 §4.2.4) from within that call. An idle established session may hibernate: its
// module state becomes a blob of a few hundred bytes (mbedtls_ssl_context_save) and its
// ~11 KB context is freed; the next receive, send or close loads it back first.

import type { Logger } from '../protocol/interfaces.js';
import { DtlsError, errorFromMbedtls, MbedtlsCode } from './errors.js';
import { MAX_DATAGRAM, MAX_RECORD, SessionInfo, type DtlsModule, type PeerCertificate } from './wasm-module.js';

export type DtlsSessionState = 'handshaking' | 'established' | 'closed' | 'failed';

/** Why a session is closed: our close(), the peer's close_notify, a reconnect from the same
 * address (RFC 6347 §4.2.8), or destroy() without an alert. */
export type DtlsCloseReason = 'local' | 'peer' | 'reconnect' | 'destroyed';

const allowedTransitions: Record<DtlsSessionState, readonly DtlsSessionState[]> = {
  handshaking: ['established', 'failed', 'closed'],
  established: ['closed', 'failed'],
  closed: [],
  failed: [],
};

export interface DtlsSessionOptions {
  /** Called with each datagram to send as soon as it exists; without it, datagrams wait
   * for outgoing(). */
  readonly onSend?: (datagram: Buffer) => void;
  readonly onStateChange?: (from: DtlsSessionState, to: DtlsSessionState, session: DtlsSession) => void;
}

export interface ReceiveResult {
  /** Application records the datagram carried, in order. */
  readonly app: Buffer[];
  /** The peer started a new handshake from the same address with a valid cookie: this
   * session is closed, and the datagram belongs to a new one (DtlsContext.accept). */
  readonly reconnect?: boolean;
}

/** What a session needs from its context (not part of the public API). */
export interface SessionHost {
  readonly module: DtlsModule;
  readonly role: 'client' | 'server';
  readonly mode: 'psk' | 'certificate';
  readonly clock: () => number;
  readonly logger: Logger | undefined;
  /** A PSK client's own identity: what it proved to share a key for. */
  readonly clientPskIdentity: string | undefined;
  readonly hasOwnCertificate: boolean;
  released(session: DtlsSession): void;
  /** A hibernated session's module state loaded into a new session of the context, its
   * pointer (0: refused). */
  restore(peer: string, blob: Uint8Array): number;
}

/** Most records read from one datagram: a datagram carries a handful; this bounds a loop
 * that must end anyway when the module answers WANT_READ. */
const MAX_RECORDS_PER_DATAGRAM = 64;

export class DtlsSession {
  /** The peer as the context knows it (the transport's address key). */
  readonly peer: string;
  readonly #host: SessionHost;
  readonly #options: DtlsSessionOptions;
  #pointer: number;
  #state: DtlsSessionState = 'handshaking';
  #error: DtlsError | undefined;
  #closeReason: DtlsCloseReason | undefined;
  #identity: string | undefined;
  #peerCertificate: PeerCertificate | undefined;
  #outgoing: Buffer[] = [];
  #deadline: number | undefined;
  #timerGeneration = -1;
  #handshakeStarted: number;
  #handshakeMs: number | undefined;
  #maxPayload: number | undefined;
  /** While hibernated (pointer 0): the serialized module state, key material included
   * (wiped when loaded or dropped). */
  #blob: Buffer | undefined;

  /** @internal Made by DtlsContext.connect and DtlsContext.accept. */
  constructor(host: SessionHost, pointer: number, peer: string, options: DtlsSessionOptions) {
    this.#host = host;
    this.#pointer = pointer;
    this.peer = peer;
    this.#options = options;
    this.#handshakeStarted = host.clock();
  }

  get state(): DtlsSessionState {
    return this.#state;
  }

  /** Why the session failed, once it has. */
  get error(): DtlsError | undefined {
    return this.#error;
  }

  get closeReason(): DtlsCloseReason | undefined {
    return this.#closeReason;
  }

  /** Server, certificate mode: the certificate the peer presented (recorded while it is
   * verified; authenticated once the session is established). */
  get peerCertificate(): PeerCertificate | undefined {
    return this.#peerCertificate;
  }

  /** @internal The context records it from the module's revocation check. */
  notePeerCertificate(certificate: PeerCertificate): void {
    this.#peerCertificate = certificate;
  }

  /** The peer's authenticated identity once established: its PSK identity (on a client, the
   * identity both sides proved they hold the key of), or its certificate's subject DN. */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** Milliseconds from creation to established. */
  get handshakeMs(): number | undefined {
    return this.#handshakeMs;
  }

  /** The largest application payload send() takes (MTU and record buffer permitting);
   * fixed once established (the MTU never changes), so asked of the module once. */
  get maxPayload(): number {
    if (this.#maxPayload !== undefined) return this.#maxPayload;
    if (this.#pointer === 0) return 0;
    const limit = this.#call(() => this.#info(SessionInfo.maxPayload));
    if (this.#state === 'established') this.#maxPayload = limit;
    return limit;
  }

  /** Connection ID negotiation (RFC 9146): our CID's length, the peer's, or undefined when
   * not in use. */
  get connectionId(): { readonly own: Buffer; readonly peerLength: number } | undefined {
    if (this.#pointer === 0) return undefined;
    const peerLength = this.#info(SessionInfo.peerCidLength);
    const ownLength = this.#info(SessionInfo.ownCidLength);
    if (peerLength < 0 || ownLength < 0) return undefined;
    const { module } = this.#host;
    return { own: module.copyOut(module.exports.fleet_session_own_cid(this.#pointer), ownLength), peerLength };
  }

  /** Whether the session is hibernated: established, its module state a blob. */
  get hibernated(): boolean {
    return this.#blob !== undefined;
  }

  /** Bytes the hibernated state takes (0 when awake). */
  get hibernatedBytes(): number {
    return this.#blob?.length ?? 0;
  }

  /** Serializes an established session's module state and frees its context, until the
   * next receive, send or close (each loads it back first). False, the session untouched,
   * when it cannot now (not established, or the module refused: data pending). */
  hibernate(): boolean {
    if (this.#state !== 'established' || this.#pointer === 0) return false;
    const { module } = this.#host;
    module.assertUsable();
    const { exports } = module;
    const scratch = module.recordScratch;
    const length = exports.fleet_session_save(this.#pointer, scratch, MAX_RECORD);
    if (length <= 0) return false;
    // Its own allocation, not a slice of Buffer's shared pool: a blob lives for minutes.
    const blob = Buffer.allocUnsafeSlow(length);
    blob.set(module.bytes().subarray(scratch, scratch + length));
    module.bytes().fill(0, scratch, scratch + length);
    module.setPskResolver(this.#pointer, undefined);
    module.setRevocationCheck(this.#pointer, undefined);
    exports.fleet_session_free(this.#pointer);
    this.#pointer = 0;
    this.#blob = blob;
    this.#host.logger?.debug({ peer: this.peer, bytes: length }, 'dtls session hibernated');
    return true;
  }

  /** Loads a hibernated session back; a blob the module refuses fails the session. */
  #wake(): boolean {
    const blob = this.#blob;
    if (blob === undefined) return this.#pointer !== 0;
    let pointer = 0;
    let reason = 'the module refused its saved state';
    try {
      pointer = this.#host.restore(this.peer, blob);
    } catch (error) {
      reason = (error as Error).message;
    }
    if (pointer === 0) {
      this.#error = new DtlsError('DTLS_ERR_OUT_OF_MEMORY', `cannot resume the hibernated session: ${reason}`);
      this.transition('failed');
      return false;
    }
    blob.fill(0);
    this.#blob = undefined;
    this.#pointer = pointer;
    this.#host.logger?.debug({ peer: this.peer }, 'dtls session resumed');
    return true;
  }

  /** Starts a client's handshake: queues its ClientHello. */
  start(): void {
    if (this.#state !== 'handshaking' || this.#pointer === 0) return;
    this.#step();
  }

  /** Feeds one received datagram. Never throws for what the peer sent: a failed handshake
   * moves the session to 'failed' with `error` set. */
  receive(datagram: Uint8Array): ReceiveResult {
    const app: Buffer[] = [];
    if (this.#state === 'closed' || this.#state === 'failed') return { app };
    if (datagram.length === 0 || datagram.length > MAX_DATAGRAM) return { app };
    // A record for a hibernated session is read after its state is loaded back.
    if (!this.#wake()) return { app };
    const { module } = this.#host;
    module.assertUsable();
    const { exports } = module;
    module.bytes().set(datagram, module.inputScratch);
    exports.fleet_session_input(this.#pointer, module.inputScratch, datagram.length);
    try {
      if (this.#state === 'handshaking') this.#step();
      if (this.#state === 'established') return this.#readRecords(app);
      return { app };
    } finally {
      if (this.#pointer !== 0) exports.fleet_session_input(this.#pointer, 0, 0);
    }
  }

  /** Encrypts one application record and queues its datagram. */
  send(data: Uint8Array): void {
    if (this.#state === 'established') this.#wake();
    if (this.#state !== 'established' || this.#pointer === 0) {
      throw new DtlsError('DTLS_ERR_NOT_ESTABLISHED', `cannot send on a ${this.#state} session`);
    }
    const limit = this.maxPayload;
    if (data.length > limit) {
      throw new DtlsError('DTLS_ERR_RECORD_TOO_LARGE', `a record carries at most ${limit} bytes, got ${data.length}`);
    }
    const { module } = this.#host;
    module.bytes().set(data, module.recordScratch);
    const written = this.#call(() => module.exports.fleet_session_write(this.#pointer, module.recordScratch, data.length));
    module.bytes().fill(0, module.recordScratch, module.recordScratch + data.length);
    if (written < 0) this.#fail(written);
  }

  /** Datagrams to send, oldest first (empty when onSend takes them). */
  outgoing(): Buffer[] {
    const datagrams = this.#outgoing;
    this.#outgoing = [];
    return datagrams;
  }

  /** Milliseconds until onTimer() is due (0: now), or undefined when no timer runs. */
  nextTimeoutMs(): number | undefined {
    if (this.#deadline === undefined) return undefined;
    return Math.max(0, this.#deadline - this.#host.clock());
  }

  /** The caller's timer fired: retransmits the last flight, or fails the handshake once the
   * retransmission timeout passed its maximum. Early calls are ignored. */
  onTimer(): void {
    if (this.#state !== 'handshaking' || this.#pointer === 0 || this.#deadline === undefined) return;
    if (this.#host.clock() < this.#deadline) return;
    this.#host.module.exports.fleet_session_timer_expired(this.#pointer);
    this.#step();
  }

  /** Sends close_notify when established, then releases the session. */
  close(): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    if (this.#state === 'established' && !this.#wake()) return; // failed: released
    if (this.#state === 'established' && this.#pointer !== 0) {
      this.#call(() => this.#host.module.exports.fleet_session_close_notify(this.#pointer));
    }
    this.#closeReason = 'local';
    this.transition('closed');
  }

  /** Releases the session without a word to the peer (eviction, shutdown). */
  destroy(): void {
    if (this.#state === 'closed' || this.#state === 'failed') {
      this.#release();
      return;
    }
    this.#closeReason = 'destroyed';
    this.transition('closed');
  }

  /** Moves to `to`, refusing moves the state machine does not have, and runs its entry
   * actions. */
  transition(to: DtlsSessionState): void {
    const from = this.#state;
    if (!allowedTransitions[from].includes(to)) {
      throw new DtlsError('DTLS_ERR_PROTOCOL', `illegal DTLS session transition ${from} -> ${to}`);
    }
    if (to === 'established' && (this.#pointer === 0 || this.#info(SessionInfo.handshakeOver) !== 1)) {
      throw new DtlsError('DTLS_ERR_PROTOCOL', `illegal DTLS session transition ${from} -> ${to}: the handshake is not over`);
    }
    this.#state = to;
    this.#host.logger?.debug({ peer: this.peer, from, to, code: this.#error?.code }, `dtls session ${from} -> ${to}`);
    switch (to) {
      case 'established':
        this.#handshakeMs = this.#host.clock() - this.#handshakeStarted;
        this.#identity = this.#readIdentity();
        this.#deadline = undefined;
        break;
      case 'closed':
      case 'failed':
        this.#deadline = undefined;
        this.#release();
        break;
      case 'handshaking':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
    this.#options.onStateChange?.(from, to, this);
  }

  /** Runs the handshake as far as the input allows. */
  #step(): void {
    const rc = this.#call(() => this.#host.module.exports.fleet_session_handshake(this.#pointer));
    if (rc === 0) this.transition('established');
    else if (rc !== MbedtlsCode.SSL_WANT_READ) this.#fail(rc);
  }

  #readRecords(app: Buffer[]): ReceiveResult {
    const { module } = this.#host;
    for (let records = 0; records < MAX_RECORDS_PER_DATAGRAM && this.#pointer !== 0; records++) {
      const rc = this.#call(() => module.exports.fleet_session_read(this.#pointer, module.recordScratch, MAX_RECORD));
      if (rc > 0) {
        app.push(module.copyOut(module.recordScratch, rc));
        module.bytes().fill(0, module.recordScratch, module.recordScratch + rc);
        continue;
      }
      if (rc === MbedtlsCode.SSL_WANT_READ) break;
      if (rc === MbedtlsCode.SSL_PEER_CLOSE_NOTIFY) {
        this.#closeReason = 'peer';
        this.transition('closed');
        break;
      }
      if (rc === MbedtlsCode.SSL_CLIENT_RECONNECT) {
        this.#closeReason = 'reconnect';
        this.transition('closed');
        return { app, reconnect: true };
      }
      this.#fail(rc);
      break;
    }
    return { app };
  }

  #fail(rc: number): void {
    if (this.#state === 'closed' || this.#state === 'failed' || this.#pointer === 0) return;
    this.#error = errorFromMbedtls(rc, {
      mode: this.#host.mode,
      handshaking: this.#state === 'handshaking',
      verifyFlags: this.#info(SessionInfo.verifyFlags) >>> 0,
      alertReceived: ((alert) => (alert < 0 ? undefined : alert))(this.#info(SessionInfo.alertReceived)),
      pskUnknown: this.#info(SessionInfo.pskUnknown) !== 0,
      hasOwnCertificate: this.#host.hasOwnCertificate,
    });
    this.transition('failed');
  }

  /** Calls into the module, then collects what it queued to send and its timer request. */
  #call<T>(call: () => T): T {
    this.#host.module.assertUsable();
    try {
      return call();
    } finally {
      if (this.#pointer !== 0) {
        this.#drain();
        // DTLS 1.2 without renegotiation has no timer once the handshake is over.
        if (this.#state === 'handshaking') this.#syncTimer();
      }
    }
  }

  #drain(): void {
    const { module } = this.#host;
    const { exports } = module;
    for (;;) {
      const length = exports.fleet_session_out_len(this.#pointer);
      if (length < 0) break;
      const datagram = module.copyOut(exports.fleet_session_out_data(this.#pointer), length);
      exports.fleet_session_out_pop(this.#pointer);
      if (this.#options.onSend !== undefined) this.#options.onSend(datagram);
      else this.#outgoing.push(datagram);
    }
  }

  #syncTimer(): void {
    const generation = this.#info(SessionInfo.timerGeneration);
    if (generation === this.#timerGeneration) return;
    this.#timerGeneration = generation;
    const delay = this.#info(SessionInfo.timerMs);
    this.#deadline = delay < 0 ? undefined : this.#host.clock() + delay;
  }

  #info(what: number): number {
    return this.#host.module.exports.fleet_session_info(this.#pointer, what);
  }

  #readIdentity(): string | undefined {
    if (this.#host.clientPskIdentity !== undefined) return this.#host.clientPskIdentity;
    const length = this.#info(SessionInfo.identityLength);
    if (length <= 0) return undefined;
    const { module } = this.#host;
    return module.copyOut(module.exports.fleet_session_identity(this.#pointer), length).toString('utf8');
  }

  #release(): void {
    if (this.#blob !== undefined) {
      this.#blob.fill(0);
      this.#blob = undefined;
      this.#host.released(this);
      return;
    }
    if (this.#pointer === 0) return;
    const { module } = this.#host;
    this.#drain(); // an alert or close_notify queued by the last call still goes out
    module.setPskResolver(this.#pointer, undefined);
    module.setRevocationCheck(this.#pointer, undefined);
    module.exports.fleet_session_free(this.#pointer);
    this.#pointer = 0;
    this.#host.released(this);
  }
}
