// What a DTLS transport does with failed handshakes: tells the listeners (the endpoint
// fails the requests waiting for that peer with the typed error), on a client holds back
// new handshakes to that peer for a moment, so a CoAP layer that retransmits cannot drive
// handshakes in a tight loop against a peer that refuses us, and decides which failures
// are worth a record (a warn line, an audit entry): failures other than timeouts, the first
// per source address in each window, with a count of the ones left out, so a flood cannot
// fill a journal or a disk.

import type { Clock, PeerAddress } from '../protocol/interfaces.js';
import type { DtlsError } from './errors.js';

/** A failure worth recording, and how many from the same address were not recorded since
 * the last one that was. */
export interface HandshakeFailureRecord {
  readonly suppressed: number;
}

/** `record` is set when this failure is to be recorded (see HandshakeFailureRecord). */
export type HandshakeErrorListener = (error: DtlsError, peer: PeerAddress, record: HandshakeFailureRecord | undefined) => void;

/** Peers whose last failure is remembered; the oldest is forgotten first. */
const MAX_REMEMBERED = 1024;
/** One recorded failure per source address in this long. */
export const HANDSHAKE_FAILURE_RECORD_WINDOW_MS = 60_000;

export class HandshakeFailures {
  readonly #clock: Clock;
  readonly #holdMs: number;
  /** Peer key → clock time from which a new handshake may start. Oldest first; at most
   * MAX_REMEMBERED; an entry goes when it is found expired, or by the bound. */
  readonly #retryAt = new Map<string, number>();
  readonly #listeners = new Set<HandshakeErrorListener>();
  /** Source address (no port: a flood comes from many) → when its window began and the
   * failures left unrecorded in it. Oldest first; at most MAX_REMEMBERED; an entry goes
   * when its address fails again after the window, or by the bound. */
  readonly #records = new Map<string, { windowStart: number; suppressed: number }>();

  constructor(clock: Clock, holdMs: number) {
    this.#clock = clock;
    this.#holdMs = holdMs;
  }

  listen(listener: HandshakeErrorListener): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** A handshake with `peer` failed: the listeners hear of it once the current call into
   * the module is over; `hold` also holds back new handshakes to it. Returns whether to
   * record this one (and how many went unrecorded before it). */
  failed(key: string, peer: PeerAddress, error: DtlsError, hold: boolean): HandshakeFailureRecord | undefined {
    if (hold && this.#holdMs > 0) {
      this.#retryAt.delete(key);
      this.#retryAt.set(key, this.#clock.now() + this.#holdMs);
      for (const [oldest] of this.#retryAt) {
        if (this.#retryAt.size <= MAX_REMEMBERED) break;
        this.#retryAt.delete(oldest);
      }
    }
    // A handshake that timed out shows a peer that went away (or a lossy path), nothing
    // about credentials: only the others are recorded.
    const record = error.code === 'DTLS_ERR_HANDSHAKE_TIMEOUT' ? undefined : this.#record(peer.address);
    const copy = { address: peer.address, port: peer.port };
    queueMicrotask(() => { for (const listener of [...this.#listeners]) listener(error, copy, record); });
    return record;
  }

  #record(address: string): HandshakeFailureRecord | undefined {
    const now = this.#clock.now();
    const entry = this.#records.get(address);
    if (entry !== undefined && now - entry.windowStart < HANDSHAKE_FAILURE_RECORD_WINDOW_MS) {
      entry.suppressed++;
      return undefined;
    }
    this.#records.delete(address);
    this.#records.set(address, { windowStart: now, suppressed: 0 });
    for (const [oldest] of this.#records) {
      if (this.#records.size <= MAX_REMEMBERED) break;
      this.#records.delete(oldest);
    }
    return { suppressed: entry?.suppressed ?? 0 };
  }

  /** Whether a new handshake to `key` must wait. */
  holding(key: string): boolean {
    const retryAt = this.#retryAt.get(key);
    if (retryAt === undefined) return false;
    if (this.#clock.now() < retryAt) return true;
    this.#retryAt.delete(key);
    return false;
  }

  clear(): void {
    this.#retryAt.clear();
    this.#records.clear();
  }
}
