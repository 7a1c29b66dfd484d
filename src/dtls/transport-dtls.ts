// CoAP over DTLS 1.2 (RFC 7252 §9.1): the Transport the endpoint runs on unchanged, over a
// datagram carrier (a UDP socket). A server answers new peers with a stateless cookie
// (RFC 6347 §4.2.1) and keeps state only after it; a client handshakes on demand when the
// endpoint first sends to a peer. Each application record goes up with the peer's
// authenticated identity. Routing (by address, or by RFC 9146 connection ID) and the bounds
// live here; the table of sessions is session-table.ts, its timers session-timers.ts, the
// options, limits and counters transport-options.ts.

import type { Clock, DatagramHandler, Logger, Peer, PeerAddress, PeerGoneHandler, Transport } from '../protocol/interfaces.js';
import { formatPeer, peerKey } from '../protocol/interfaces.js';
import { silentLogger, systemClock } from '../protocol/runtime.js';
import { UdpTransport, type UdpTransportOptions } from '../protocol/transport-udp.js';
import { DtlsContext, type DtlsRole } from './context.js';
import { DtlsError } from './errors.js';
import { HandshakeFailures, type HandshakeErrorListener } from './handshake-failures.js';
import { clientHelloHasCookie, clientHelloRandom, connectionIdOf } from './record-header.js';
import type { DtlsSession, DtlsSessionState } from './session.js';
import { newEntry, SessionTable, type SessionEntry } from './session-table.js';
import { SessionTimers } from './session-timers.js';
import {
  checkLimits, DEFAULT_DTLS_LIMITS, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_SERVER_CID_LENGTH, newCounters,
  type DtlsTransportLimits, type DtlsTransportOptions, type DtlsTransportStats,
} from './transport-options.js';
import { DtlsModule, type PeerCertificate } from './wasm-module.js';

export type { DtlsTransportCounters, DtlsTransportLimits, DtlsTransportOptions, DtlsTransportStats } from './transport-options.js';
export { DEFAULT_DTLS_LIMITS } from './transport-options.js';

export type { HandshakeErrorListener, HandshakeFailureRecord } from './handshake-failures.js';

export class DtlsTransport implements Transport {
  readonly scheme = 'coaps' as const;
  readonly role: DtlsRole;
  readonly #carrier: Transport;
  readonly #context: DtlsContext;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: DtlsTransportLimits;
  /** Length of the CIDs we issue (server), 0 when we route by address only. */
  readonly #cidLength: number;
  readonly #table = new SessionTable();
  readonly #timers: SessionTimers;
  readonly #failures: HandshakeFailures;
  readonly #counters = newCounters();
  /** Client: peers whose liveness probe is being decided, with the datagrams held for them
   * meanwhile (see retransmitting). */
  readonly #probing = new Map<string, Buffer[]>();
  #handler: DatagramHandler = () => {};
  #peerGone: PeerGoneHandler = () => {};
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(carrier: Transport, context: DtlsContext, options: DtlsTransportOptions, cidLength: number) {
    this.role = options.role;
    this.#carrier = carrier;
    this.#context = context;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#limits = checkLimits({ ...DEFAULT_DTLS_LIMITS, ...options.limits });
    this.#cidLength = cidLength;
    this.#failures = new HandshakeFailures(this.#clock, this.#limits.retryAfterFailureMs);
    this.#timers = new SessionTimers(this.#clock, this.#table, this.#limits.idleTimeoutMs, this.#limits.hibernateAfterMs, {
      due: (entry) => this.#onTimer(entry),
      idle: (entry) => {
        this.#counters.evictedIdle++;
        this.#logger.debug({ peer: formatPeer(entry.peer) }, 'dtls session idle: closed');
        this.#end(entry, true);
      },
      hibernate: (entry) => {
        if (entry.session?.hibernate() === true) this.#table.markHibernated(entry);
      },
      failed: (error, entry) => this.#logger.error({ err: error, peer: entry === undefined ? undefined : formatPeer(entry.peer) }, 'dtls timer failed'),
    });
    carrier.onDatagram((data, peer) => this.#receive(data, peer));
  }

  /** A DTLS transport over a datagram carrier it takes over (and closes with itself). */
  static async over(carrier: Transport, options: DtlsTransportOptions): Promise<DtlsTransport> {
    const clock = options.clock ?? systemClock;
    const useCid = options.connectionIds ?? true;
    const cidLength = !useCid ? undefined : options.role === 'server' ? options.connectionIdLength ?? DEFAULT_SERVER_CID_LENGTH : 0;
    const context = await DtlsContext.create({
      ...options,
      module: options.module ?? await DtlsModule.shared(),
      handshakeTimeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
      clock: () => clock.now(),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(cidLength === undefined ? {} : { connectionIdLength: cidLength }),
    });
    return new DtlsTransport(carrier, context, options, options.role === 'server' ? cidLength ?? 0 : 0);
  }

  /** A DTLS transport on a new UDP socket (port 0: an ephemeral one). */
  static async bind(options: DtlsTransportOptions & UdpTransportOptions): Promise<DtlsTransport> {
    const carrier = await UdpTransport.bind(options);
    try {
      return await DtlsTransport.over(carrier, options);
    } catch (error) {
      await carrier.close();
      throw error;
    }
  }

  address(): PeerAddress {
    return this.#carrier.address();
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  /** Called when an established session ends, however it ends (close_notify either way,
   * idle or capacity eviction, a new handshake from the same address, failure, close())
   * and when one moves to another address: the layers above drop what they keep for the
   * peer at that address (Observe registrations, uploads). */
  onPeerGone(handler: PeerGoneHandler): void {
    this.#peerGone = handler;
  }

  /** Called with every handshake that fails (ours as a client, a peer's as a server) and
   * the peer it was with. Returns a function that removes the listener. */
  onHandshakeError(listener: HandshakeErrorListener): () => void {
    return this.#failures.listen(listener);
  }

  /** The authenticated identity of the session with `peer`, once established. */
  identityOf(peer: PeerAddress): string | undefined {
    const session = this.#table.byAddress(peerKey(peer))?.session;
    return session?.state === 'established' ? session.identity : undefined;
  }

  stats(): DtlsTransportStats {
    return {
      sessions: this.#table.established,
      hibernated: this.#table.hibernated,
      halfOpen: this.#table.halfOpen,
      heap: this.#context.module.heap(),
      counters: { ...this.#counters },
    };
  }

  /** Encrypts `data` for `peer`. A client without a session to the peer starts a handshake
   * and holds the datagram until it is over; a server only answers peers with a session.
   * Never throws: what cannot go out is counted and logged (UDP promised nothing either). */
  send(data: Buffer, peer: PeerAddress): void {
    if (this.#closed) return;
    try {
      const key = peerKey(peer);
      const held = this.#probing.get(key);
      if (held !== undefined) {
        if (held.length < this.#limits.queuedPerPeer) held.push(Buffer.from(data));
        else this.#unsent(peer, 'the queue for the liveness probe is full');
        return;
      }
      let entry = this.#table.byAddress(key);
      if (entry?.session?.state === 'established') {
        this.#sendRecord(entry, data);
        return;
      }
      if (this.role === 'server') {
        this.#unsent(peer, 'no established session with the peer');
        return;
      }
      if (entry === undefined) {
        if (this.#failures.holding(key)) {
          this.#unsent(peer, 'the last handshake with the peer failed moments ago');
          return;
        }
        entry = this.#connect(peer);
        if (entry === undefined) return;
      }
      if (entry.session?.state === 'established') {
        this.#sendRecord(entry, data);
      } else if (entry.queue.length >= this.#limits.queuedPerPeer) {
        this.#unsent(peer, 'the queue for the handshake is full');
      } else {
        entry.queue.push(Buffer.from(data));
      }
    } catch (error) {
      this.#logger.error({ err: error, peer }, 'dtls send failed');
    }
  }

  /** The message layer retransmits a CON to `peer` for the `retransmissions`-th time.
   * Client only: from the `limits.probeAfterRetransmissions`-th on, when nothing at all has
   * come from the peer since the previous transmission of this CON (a whole retransmission
   * timeout of silence: a peer that answered something else just before it died, say the
   * gateway killed right after our request, does not hide it), the session is presumed lost and
   * ended without a word, so this retransmission (and the message layer's next ones) waits
   * for a new handshake. The handshake is the probe: a server that restarted, or lost our
   * session, silently drops our records but answers a ClientHello; one that is alive and
   * merely lost datagrams treats a ClientHello on an existing association as the client
   * starting over (RFC 6347 §4.2.8: once the cookie exchange shows the client reachable, it
   * completes the new handshake and destroys the old association; mbedTLS reports it as
   * MBEDTLS_ERR_SSL_CLIENT_RECONNECT, which our server handles in #route). Either way a
   * session is up again after one handshake, instead of the client holding a dead one for
   * the whole retransmission span (93 s, RFC 7252 §4.8.2). Closing and handshaking anew on
   * the same socket, rather than a second handshake beside the old session, keeps one
   * session per address, which is also all the server keeps (and mbedTLS has no parallel
   * handshake on one association). A received fatal alert or close_notify already ends the
   * session at once (#onState).
   *
   * The silence is judged once the datagrams already waiting on our socket are read: this
   * is called from a timer, which a busy event loop runs before it reads its sockets, so
   * a reply that came in time but was not read yet would pass for silence (a simulator
   * holding a thousand nodes in one process took its own lag for dead gateways hundreds
   * of times in a rollout). The retransmission, and anything else sent to the peer in the
   * meantime, is held until then: one turn of the loop. */
  retransmitting(peer: PeerAddress, retransmissions: number, previousSentAt: number): void {
    const probeAfter = this.#limits.probeAfterRetransmissions;
    if (this.role !== 'client' || this.#closed || probeAfter === 0 || retransmissions < probeAfter) return;
    const key = peerKey(peer);
    const silent = (): SessionEntry | undefined => {
      const entry = this.#table.byAddress(key);
      // A session made after that transmission (the probe's own) has answered nothing yet either.
      return entry === undefined || !this.#table.isEstablished(entry) || entry.lastActivity >= previousSentAt ? undefined : entry;
    };
    if (silent() === undefined || this.#probing.has(key)) return;
    this.#probing.set(key, []);
    setImmediate(() => {
      const held = this.#probing.get(key) ?? [];
      this.#probing.delete(key);
      if (this.#closed) return;
      const entry = silent();
      if (entry !== undefined) {
        this.#counters.probes++;
        this.#logger.info({ peer: formatPeer(peer), retransmissions, silent_ms: this.#clock.now() - entry.lastActivity },
          'dtls peer silent through retransmissions: session ended, handshaking anew');
        this.#end(entry, false);
      }
      for (const data of held) this.send(data, peer);
    });
  }

  /** Ends the session with `peer` (close_notify when `notify`, the default), so the next
   * send handshakes anew: for a peer that stopped answering, e.g. a restarted server that
   * lost our session and silently drops our records. */
  closeSession(peer: PeerAddress, options: { readonly notify?: boolean } = {}): boolean {
    const entry = this.#table.byAddress(peerKey(peer));
    if (entry === undefined) return false;
    this.#end(entry, options.notify ?? true);
    return true;
  }

  /** Certificate mode: our certificate and key for the handshakes to come (DtlsContext). */
  replaceOwnCertificate(cert: string, key: string): void {
    this.#context.replaceOwnCertificate(cert, key);
  }

  /** Ends (with close_notify) every established session `match` picks by its identity and,
   * on a certificate server, the certificate it presented: a revoked peer goes at once. */
  closeSessionsWhere(match: (identity: string | undefined, certificate: PeerCertificate | undefined) => boolean): number {
    let ended = 0;
    for (const entry of this.#table.entries()) {
      const session = entry.session;
      if (session === undefined || !match(session.identity, session.peerCertificate)) continue;
      this.#end(entry, true);
      ended++;
    }
    return ended;
  }

  /** Sends close_notify to every established peer (unless `closeNotify: false`, to vanish
   * as a crashed peer would), releases every session and timer, and closes the carrier. */
  close(options: { readonly closeNotify?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#timers.stop();
      for (const entry of this.#table.entries()) this.#end(entry, options.closeNotify ?? true);
      this.#table.clear();
      this.#failures.clear();
      this.#context.close();
      // The close_notify datagrams leave before the socket closes.
      await new Promise((resolve) => setImmediate(resolve));
      await this.#carrier.close();
    })();
    return this.#closing;
  }

  // ---- receiving ---------------------------------------------------------------------

  #receive(data: Buffer, from: Peer): void {
    if (this.#closed) return;
    try {
      this.#route(data, from);
    } catch (error) {
      // A broken module (DTLS_ERR_MODULE) or a bug: never a crash of the process.
      this.#logger.error({ err: error, peer: from }, 'dtls datagram not processed');
    }
  }

  #route(data: Buffer, from: PeerAddress): void {
    const key = peerKey(from);
    let entry: SessionEntry | undefined;
    let byCid = false;
    if (this.#cidLength > 0) {
      const cid = connectionIdOf(data, this.#cidLength);
      entry = cid === undefined ? undefined : this.#table.byCid(cid);
      byCid = entry !== undefined;
    }
    entry ??= this.#table.byAddress(key);
    if (entry?.clientRandom !== undefined) {
      const random = clientHelloRandom(data);
      // A ClientHello with another random on a half-open session: the client started over
      // (restarted, or timed out); the old handshake cannot finish.
      if (random !== undefined && !random.equals(entry.clientRandom)) {
        this.#end(entry, false);
        entry = undefined;
      }
    }
    if (entry?.session === undefined) {
      if (this.role === 'server') this.#accept(data, from);
      else this.#counters.dropped++;
      return;
    }
    const { session } = entry;
    const result = session.receive(data);
    if (result.app.length > 0 && !entry.removed) {
      // Authenticated (and not a replay): the peer is where this came from (RFC 9146 §6).
      if (byCid && entry.key !== key) this.#migrate(entry, from);
      this.#table.touch(entry, this.#clock.now());
    }
    const peer: Peer = { address: entry.peer.address, port: entry.peer.port, identity: session.identity };
    this.#afterCall(entry);
    for (const record of result.app) this.#handler(record, peer);
    if (result.reconnect === true) this.#accept(data, from);
  }

  /** Server: a datagram from a peer without a session goes to the stateless listener. */
  #accept(data: Buffer, from: PeerAddress): void {
    if (clientHelloHasCookie(data) && !this.#roomForHandshake()) {
      this.#counters.refusedHalfOpen++;
      return;
    }
    const entry = newEntry(from, this.#clock.now());
    const result = this.#context.accept(data, entry.key, this.#sessionOptions(entry));
    switch (result.kind) {
      case 'verify':
        this.#counters.helloVerifyRequests++;
        this.#carrier.send(result.reply, from);
        return;
      case 'drop':
        this.#counters.dropped++;
        return;
      case 'session': {
        entry.session = result.session;
        if (entry.removed || !isLive(result.session.state)) return; // failed on its first datagram
        const occupant = this.#table.byAddress(entry.key);
        if (occupant !== undefined) this.#end(occupant, false);
        entry.clientRandom = clientHelloRandom(data);
        this.#table.addHandshaking(entry);
        this.#boundHalfOpen(entry);
        this.#afterCall(entry);
        return;
      }
      default: {
        const never: never = result;
        throw new Error(`unknown accept result ${JSON.stringify(never)}`);
      }
    }
  }

  #migrate(entry: SessionEntry, to: PeerAddress): void {
    const from = entry.peer;
    const displaced = this.#table.move(entry, to);
    if (displaced !== undefined) this.#end(displaced, false);
    // What the layers above keep is keyed by address: nothing reaches the old one now.
    this.#announceGone(from, entry.session?.identity);
    this.#counters.migrations++;
    this.#logger.debug({ from: formatPeer(from), to: formatPeer(to) }, 'dtls session moved with its connection ID');
  }

  // ---- sending -----------------------------------------------------------------------

  /** Client: a new session to `peer`, its ClientHello already sent. */
  #connect(peer: PeerAddress): SessionEntry | undefined {
    if (!this.#roomForHandshake()) {
      this.#counters.refusedHalfOpen++;
      this.#unsent(peer, 'too many handshakes in progress');
      return undefined;
    }
    const entry = newEntry(peer, this.#clock.now());
    this.#table.addHandshaking(entry);
    try {
      entry.session = this.#context.connect({ ...this.#sessionOptions(entry), peer: entry.key });
    } catch (error) {
      this.#table.remove(entry);
      this.#unsent(peer, `cannot start a handshake: ${(error as Error).message}`);
      return undefined;
    }
    this.#boundHalfOpen(entry);
    this.#afterCall(entry);
    return entry.removed ? undefined : entry;
  }

  #sendRecord(entry: SessionEntry, data: Buffer): void {
    try {
      entry.session!.send(data);
    } catch (error) {
      this.#unsent(entry.peer, (error as Error).message, 'warn');
    }
    this.#afterCall(entry);
  }

  #unsent(peer: PeerAddress, reason: string, level: 'debug' | 'warn' = 'debug'): void {
    this.#counters.unsent++;
    this.#logger[level]({ peer: formatPeer(peer) }, `dtls datagram not sent: ${reason}`);
  }

  #sessionOptions(entry: SessionEntry) {
    return {
      onSend: (datagram: Buffer): void => this.#carrier.send(datagram, entry.peer),
      onStateChange: (from: DtlsSessionState, to: DtlsSessionState, session: DtlsSession): void => this.#onState(entry, from, to, session),
    };
  }

  // ---- session life ------------------------------------------------------------------

  /** The session's state machine moved. Only bookkeeping here: the session is inside its
   * own call; what needs the module again waits for #afterCall. */
  #onState(entry: SessionEntry, from: DtlsSessionState, to: DtlsSessionState, session: DtlsSession): void {
    switch (to) {
      case 'established': {
        if (entry.removed) return;
        this.#counters.handshakes++;
        const own = session.connectionId?.own;
        this.#table.markEstablished(entry, own !== undefined && own.length > 0 ? own.toString('hex') : undefined, this.#clock.now());
        this.#logger.debug({ peer: formatPeer(entry.peer), identity: session.identity, ms: session.handshakeMs }, 'dtls session established');
        return;
      }
      case 'failed': {
        const error = session.error ?? new DtlsError('DTLS_ERR_PROTOCOL', 'the session failed');
        const wasRemoved = entry.removed;
        const queued = entry.queue;
        this.#forget(entry);
        if (from !== 'handshaking') {
          this.#logger.debug({ peer: formatPeer(entry.peer), code: error.code }, 'dtls session failed');
          return;
        }
        this.#counters.handshakeFailures++;
        const record = this.#failures.failed(entry.key, entry.peer, error, this.role === 'client' && !wasRemoved);
        // A server's failed handshake is someone trying keys or identities it lacks (or a
        // misconfigured node): worth a warning, but only the first per address in a
        // window, so a flood cannot fill the journal. A client's failure ends its own
        // requests with the typed error, and its caller reports it.
        const level = this.role === 'server' && record !== undefined ? 'warn' : 'debug';
        this.#logger[level]({ peer: formatPeer(entry.peer), code: error.code, reason: error.message, suppressed: record?.suppressed }, 'dtls handshake failed');
        if (queued.length > 0) {
          this.#counters.unsent += queued.length;
          this.#logger.warn({ peer: formatPeer(entry.peer), code: error.code, reason: error.message, dropped: queued.length },
            'dtls handshake failed: queued datagrams dropped');
        }
        return;
      }
      case 'closed':
        if (session.closeReason === 'peer') this.#counters.closedByPeer++;
        this.#forget(entry);
        return;
      case 'handshaking':
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /** After any call into a session: flush a client's queue once established, apply the
   * session bound, and set the session's timer to what it asks for now. */
  #afterCall(entry: SessionEntry): void {
    const session = entry.session;
    if (entry.removed || session === undefined) {
      this.#timers.clear(entry);
      return;
    }
    if (session.state === 'established') {
      if (!session.hibernated) this.#table.markAwake(entry);
      if (entry.queue.length > 0) {
        const queue = entry.queue;
        entry.queue = [];
        for (const datagram of queue) if (session.state === 'established') this.#sendRecord(entry, datagram);
      }
      this.#boundSessions(entry);
      this.#timers.armSweep();
    }
    this.#timers.schedule(entry);
  }

  /** The session's retransmission timer is due. */
  #onTimer(entry: SessionEntry): void {
    if (entry.removed || this.#closed) return;
    entry.session?.onTimer();
    this.#afterCall(entry);
  }

  /** Whether a new handshake may start: below the half-open bound, or the oldest half-open
   * handshake is past its grace and makes way. */
  #roomForHandshake(): boolean {
    if (this.#table.halfOpen < this.#limits.halfOpen) return true;
    const oldest = this.#table.oldestHandshaking();
    if (oldest === undefined || this.#clock.now() - oldest.created < this.#limits.halfOpenGraceMs) return false;
    this.#counters.evictedHalfOpen++;
    this.#end(oldest, false);
    return true;
  }

  /** More half-open handshakes than the bound (a ClientHello the header check could not
   * read, e.g. fragmented): the oldest go (never `keep`, just made). */
  #boundHalfOpen(keep: SessionEntry): void {
    while (this.#table.halfOpen > this.#limits.halfOpen) {
      const oldest = this.#table.oldestHandshaking();
      if (oldest === undefined || oldest === keep) return;
      this.#counters.evictedHalfOpen++;
      this.#end(oldest, false);
    }
  }

  /** More established sessions than the bound: the least recently active go. */
  #boundSessions(keep: SessionEntry): void {
    while (this.#table.established > this.#limits.sessions) {
      const idlest = this.#table.leastRecentlyActive();
      if (idlest === undefined || idlest === keep) return;
      this.#counters.evictedForCapacity++;
      this.#end(idlest, true);
    }
  }

  /** Ends a session: close_notify first when `notify` and established, then release. */
  #end(entry: SessionEntry, notify: boolean): void {
    this.#forget(entry);
    const session = entry.session;
    if (session === undefined) return;
    try {
      if (notify) session.close();
      else session.destroy();
    } catch (error) {
      this.#logger.error({ err: error, peer: formatPeer(entry.peer) }, 'dtls session release failed');
    }
  }

  /** Out of the table, timer cleared, queue dropped; an established session's end is
   * announced (once: a removed entry is no longer established). */
  #forget(entry: SessionEntry): void {
    const established = this.#table.isEstablished(entry);
    this.#table.remove(entry);
    this.#timers.clear(entry);
    entry.queue = [];
    if (established) this.#announceGone(entry.peer, entry.session?.identity);
  }

  /** Tells the layers above; only map bookkeeping runs there, so it is safe from inside a
   * session's callback, and a throw there never breaks the session table. */
  #announceGone(peer: PeerAddress, identity: string | undefined): void {
    try {
      this.#peerGone({ address: peer.address, port: peer.port, identity });
    } catch (error) {
      this.#logger.error({ err: error, peer: formatPeer(peer) }, 'peer-gone handler failed');
    }
  }
}

const isLive = (state: DtlsSessionState): boolean => state === 'handshaking' || state === 'established';

