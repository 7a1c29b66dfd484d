// What a DTLS transport does with failed handshakes: tells the listeners (the endpoint
// fails the requests waiting for that peer with the typed error), and on a client holds
// back new handshakes to that peer for a moment, so a CoAP layer that retransmits cannot
// drive handshakes in a tight loop against a peer that refuses us.

import type { Clock, PeerAddress } from '../protocol/interfaces.js';
import type { DtlsError } from './errors.js';

export type HandshakeErrorListener = (error: DtlsError, peer: PeerAddress) => void;

/** Peers whose last failure is remembered; the oldest is forgotten first. */
const MAX_REMEMBERED = 1024;

export class HandshakeFailures {
  readonly #clock: Clock;
  readonly #holdMs: number;
  /** Peer key → clock time from which a new handshake may start. Oldest first; at most
   * MAX_REMEMBERED; an entry goes when it is found expired, or by the bound. */
  readonly #retryAt = new Map<string, number>();
  readonly #listeners = new Set<HandshakeErrorListener>();

  constructor(clock: Clock, holdMs: number) {
    this.#clock = clock;
    this.#holdMs = holdMs;
  }

  listen(listener: HandshakeErrorListener): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** A handshake with `peer` failed: the listeners hear of it once the current call into
   * the module is over; `hold` also holds back new handshakes to it. */
  failed(key: string, peer: PeerAddress, error: DtlsError, hold: boolean): void {
    if (hold && this.#holdMs > 0) {
      this.#retryAt.delete(key);
      this.#retryAt.set(key, this.#clock.now() + this.#holdMs);
      for (const [oldest] of this.#retryAt) {
        if (this.#retryAt.size <= MAX_REMEMBERED) break;
        this.#retryAt.delete(oldest);
      }
    }
    const copy = { address: peer.address, port: peer.port };
    queueMicrotask(() => { for (const listener of [...this.#listeners]) listener(error, copy); });
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
  }
}
