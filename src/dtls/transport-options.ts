// How a DTLS transport is set up and bounded (RFC 6347 §4.2.1; DESIGN §6: every table has
// a bound), and what it counts: its options, the limits with their defaults and checks,
// the counters and the stats it exposes.

import type { Clock, Logger } from '../protocol/interfaces.js';
import type { DtlsContextOptions } from './context.js';
import { DtlsError } from './errors.js';
import type { HeapStats } from './wasm-module.js';

export interface DtlsTransportOptions extends Omit<DtlsContextOptions, 'clock' | 'logger' | 'connectionIdLength'> {
  /** RFC 9146 connection IDs (default true). A server asks clients to send a CID of
   * `connectionIdLength` bytes (default 8) and routes records by it, so a client whose
   * address changes keeps its session; a client uses the server's CID when offered. */
  readonly connectionIds?: boolean;
  readonly connectionIdLength?: number;
  readonly limits?: Partial<DtlsTransportLimits>;
  /** Timers and time; default the system clock. */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** What identifies this side of a DTLS session: a PSK (or a lookup of the peers' keys) or a
 * certificate with its CA. */
export type DtlsCredentials = Pick<DtlsTransportOptions, 'mode' | 'psk' | 'pskLookup' | 'certificates' | 'serverName'>;

export interface DtlsTransportLimits {
  /** Established sessions kept; one more closes the least recently active (close_notify). */
  readonly sessions: number;
  /** Handshakes in progress (on a server: after a valid cookie). When full, a new one
   * displaces the oldest only if that one is older than `halfOpenGraceMs`; otherwise the
   * new ClientHello is dropped before any work, and the client's retransmission retries.
   * Unauthenticated peers never displace an established session. */
  readonly halfOpen: number;
  /** How long a handshake is safe from being displaced by a newcomer when the half-open
   * table is full: longer than a handshake takes, even with a few retransmissions. */
  readonly halfOpenGraceMs: number;
  /** An established session without an authenticated record from its peer for this long
   * is closed (close_notify). Records that fail to authenticate do not keep it alive. */
  readonly idleTimeoutMs: number;
  /** An established session without an authenticated record for this long hibernates:
   * its ~11 KB of module state becomes a blob of a few hundred bytes until its next record
   * or send (DtlsSession.hibernate). 0: never. Hibernated sessions still count against
   * `sessions` and still end at `idleTimeoutMs`. */
  readonly hibernateAfterMs: number;
  /** Client: application datagrams held per peer while its handshake runs; more are
   * dropped (the CoAP layer retransmits). */
  readonly queuedPerPeer: number;
  /** Client: after a failed handshake to a peer, sends to it are dropped this long, so a
   * retransmitting CoAP layer cannot drive handshakes in a tight loop. */
  readonly retryAfterFailureMs: number;
  /** Client: a CON to a peer retransmitted this many times (0: never) with nothing at all
   * received from the peer since its previous transmission ends the session, so the
   * retransmission goes out over a new handshake (the liveness probe of transport-dtls.ts). */
  readonly probeAfterRetransmissions: number;
}

export const DEFAULT_DTLS_LIMITS: DtlsTransportLimits = {
  sessions: 10_000,
  halfOpen: 256,
  halfOpenGraceMs: 4000,
  idleTimeoutMs: 30 * 60_000,
  hibernateAfterMs: 0,
  queuedPerPeer: 16,
  retryAfterFailureMs: 1000,
  probeAfterRetransmissions: 2,
};

/** Handshakes retransmit from 1 s, doubling to 16 s, then fail (~31 s in all): a half-open
 * session does not outlive half a minute (RFC 6347 §4.2.4.1 allows up to 60 s steps). */
export const DEFAULT_HANDSHAKE_TIMEOUT = { initialMs: 1000, maxMs: 16_000 } as const;
/** A server's connection IDs: 8 random bytes, so 10,000 sessions never draw one twice. */
export const DEFAULT_SERVER_CID_LENGTH = 8;

export interface DtlsTransportCounters {
  /** Handshakes completed and failed. */
  handshakes: number;
  handshakeFailures: number;
  /** HelloVerifyRequests sent for ClientHellos without a valid cookie (no state kept). */
  helloVerifyRequests: number;
  /** Datagrams no session took and the listener dropped (garbage, stray records). */
  dropped: number;
  /** Our datagrams that could not go out (no session, queue full, record too large). */
  unsent: number;
  evictedIdle: number;
  evictedForCapacity: number;
  evictedHalfOpen: number;
  /** ClientHellos with a cookie dropped because the half-open table was full. */
  refusedHalfOpen: number;
  closedByPeer: number;
  /** Client: sessions ended because a CON went unanswered and the peer was silent (probes). */
  probes: number;
  /** Sessions that followed their peer to a new address by connection ID. */
  migrations: number;
}

export interface DtlsTransportStats {
  /** Established sessions. */
  readonly sessions: number;
  /** Of those, hibernated (DtlsTransportLimits.hibernateAfterMs). */
  readonly hibernated: number;
  /** Handshakes in progress. */
  readonly halfOpen: number;
  /** The module's heap: shared by every context and transport on the same module (give a
   * server a module of its own to see only its sessions). */
  readonly heap: HeapStats;
  readonly counters: Readonly<DtlsTransportCounters>;
}

export const newCounters = (): DtlsTransportCounters => ({
  handshakes: 0, handshakeFailures: 0, helloVerifyRequests: 0, dropped: 0, unsent: 0,
  evictedIdle: 0, evictedForCapacity: 0, evictedHalfOpen: 0, refusedHalfOpen: 0, closedByPeer: 0, probes: 0, migrations: 0,
});

export function checkLimits(limits: DtlsTransportLimits): DtlsTransportLimits {
  const positive = (value: number, name: string): void => {
    if (!(Number.isFinite(value) && value >= 1)) throw new DtlsError('DTLS_ERR_CONFIG', `limits.${name} must be at least 1`);
  };
  positive(limits.sessions, 'sessions');
  positive(limits.halfOpen, 'halfOpen');
  positive(limits.idleTimeoutMs, 'idleTimeoutMs');
  if (!(Number.isFinite(limits.hibernateAfterMs) && limits.hibernateAfterMs >= 0)) throw new DtlsError('DTLS_ERR_CONFIG', 'limits.hibernateAfterMs must be 0 (never) or more');
  if (!(limits.halfOpenGraceMs >= 0)) throw new DtlsError('DTLS_ERR_CONFIG', 'limits.halfOpenGraceMs must be 0 or more');
  positive(limits.queuedPerPeer, 'queuedPerPeer');
  if (!(limits.retryAfterFailureMs >= 0)) throw new DtlsError('DTLS_ERR_CONFIG', 'limits.retryAfterFailureMs must be 0 or more');
  if (!(Number.isInteger(limits.probeAfterRetransmissions) && limits.probeAfterRetransmissions >= 0)) {
    throw new DtlsError('DTLS_ERR_CONFIG', 'limits.probeAfterRetransmissions must be a whole number, 0 or more');
  }
  return limits;
}
