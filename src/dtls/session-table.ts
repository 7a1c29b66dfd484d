// The DTLS transport's table of sessions: one entry per peer, found by the peer's address
// or, for a record that carries one, by the connection ID we gave the peer (RFC 9146 §3),
// with the orders the transport evicts by: half-open handshakes oldest first, established
// sessions least recently active first. The table only keeps order; the bounds and what to
// do with an evicted session are the transport's.

import type { PeerAddress, TimerHandle } from '../protocol/interfaces.js';
import { peerKey } from '../protocol/interfaces.js';
import type { DtlsSession } from './session.js';

/** One peer's session and what the transport keeps beside it. */
export interface SessionEntry {
  /** Where the peer is now; moves when an authenticated record arrives by CID from
   * another address. */
  peer: PeerAddress;
  /** peerKey(peer): the key in the address map. */
  key: string;
  /** Set as soon as the context made the session (a server's accept, a client's connect). */
  session: DtlsSession | undefined;
  /** Our connection ID (hex) once established with one, the key in the CID map. */
  cid: string | undefined;
  /** Server, half-open: the random of the ClientHello that made the session, so a new
   * handshake from the same address (a restarted client) is told from a retransmission. */
  clientRandom: Buffer | undefined;
  /** Clock time the entry was made. */
  readonly created: number;
  /** Clock time of the last authenticated record from the peer (or of creation). */
  lastActivity: number;
  /** The one timer of the session: flight retransmission while handshaking. */
  timer: TimerHandle | undefined;
  deadline: number | undefined;
  /** Client: application datagrams waiting for the handshake, oldest first. */
  queue: Buffer[];
  /** Out of the table (closed, failed or evicted): late callbacks ignore it. */
  removed: boolean;
}

export function newEntry(peer: PeerAddress, now: number): SessionEntry {
  const address = { address: peer.address, port: peer.port };
  return {
    peer: address, key: peerKey(address), session: undefined, cid: undefined, clientRandom: undefined,
    created: now, lastActivity: now, timer: undefined, deadline: undefined, queue: [], removed: false,
  };
}

/** At most the transport's `limits.sessions` established plus `limits.halfOpen`
 * handshaking entries: the transport evicts before it adds beyond them. */
export class SessionTable {
  /** Every entry by its peer's address key; at most one per address. Removed by remove()
   * (the session closed, failed or was evicted) or replaced by move(). */
  readonly #byAddress = new Map<string, SessionEntry>();
  /** Established entries with a CID by that CID (hex). A CID drawn twice (8 random bytes:
   * not expected, but possible) stays with the first entry; the second is routed by
   * address only. */
  readonly #byCid = new Map<string, SessionEntry>();
  /** Entries still handshaking, oldest first: the half-open bound evicts from the front. */
  readonly #handshaking = new Set<SessionEntry>();
  /** Established entries, least recently active first (touch() moves an entry to the back):
   * the idle sweep and the session bound take from the front. */
  readonly #established = new Set<SessionEntry>();
  /** Established entries whose session is awake (not hibernated), in the order they were
   * last active or woke: the hibernation sweep takes from the front. */
  readonly #awake = new Set<SessionEntry>();
  /** Established entries whose session is hibernated. */
  readonly #hibernated = new Set<SessionEntry>();

  get size(): number {
    return this.#byAddress.size;
  }

  get halfOpen(): number {
    return this.#handshaking.size;
  }

  get established(): number {
    return this.#established.size;
  }

  /** Established entries whose session is hibernated. */
  get hibernated(): number {
    return this.#hibernated.size;
  }

  /** Whether the entry is in the table and past its handshake. */
  isEstablished(entry: SessionEntry): boolean {
    return this.#established.has(entry);
  }

  byAddress(key: string): SessionEntry | undefined {
    return this.#byAddress.get(key);
  }

  byCid(cid: string): SessionEntry | undefined {
    return this.#byCid.get(cid);
  }

  /** A new handshaking entry; its address must be free. */
  addHandshaking(entry: SessionEntry): void {
    this.#byAddress.set(entry.key, entry);
    this.#handshaking.add(entry);
  }

  /** The handshake is over: the entry joins the established order (as the most recently
   * active), with its CID when it has one. */
  markEstablished(entry: SessionEntry, cid: string | undefined, now: number): void {
    this.#handshaking.delete(entry);
    entry.clientRandom = undefined;
    entry.lastActivity = now;
    this.#established.add(entry);
    this.#awake.add(entry);
    if (cid !== undefined && !this.#byCid.has(cid)) {
      entry.cid = cid;
      this.#byCid.set(cid, entry);
    }
  }

  /** An authenticated record arrived: the entry becomes the most recently active. */
  touch(entry: SessionEntry, now: number): void {
    entry.lastActivity = now;
    if (this.#established.delete(entry)) this.#established.add(entry);
    if (this.#awake.delete(entry)) this.#awake.add(entry);
  }

  /** The entry's session hibernated: out of the awake order. */
  markHibernated(entry: SessionEntry): void {
    this.#awake.delete(entry);
    if (this.#established.has(entry)) this.#hibernated.add(entry);
  }

  /** The entry's session could not hibernate (a server before the client's first record
   * of the new epoch, RFC 6347 §4.2.4): out of the awake order until it is active again,
   * so the sweep does not come back for it at once. */
  skipHibernation(entry: SessionEntry): void {
    this.#awake.delete(entry);
  }

  /** The entry's session is awake again (a record or a send loaded it back): it joins the
   * awake order at the back, even if its last activity is older than its neighbours' (a
   * replay wakes a session without touching it): the sweep reaches it at most one
   * hibernation delay late. */
  markAwake(entry: SessionEntry): void {
    this.#hibernated.delete(entry);
    if (this.#established.has(entry) && !this.#awake.has(entry)) this.#awake.add(entry);
  }

  /** Moves an entry to a new address; returns the entry that held that address, which the
   * caller must end (its peer is no longer there). */
  move(entry: SessionEntry, to: PeerAddress): SessionEntry | undefined {
    const key = peerKey(to);
    const displaced = this.#byAddress.get(key);
    if (displaced === entry) return undefined;
    if (displaced !== undefined) this.remove(displaced);
    if (this.#byAddress.get(entry.key) === entry) this.#byAddress.delete(entry.key);
    entry.peer = { address: to.address, port: to.port };
    entry.key = key;
    this.#byAddress.set(key, entry);
    return displaced;
  }

  remove(entry: SessionEntry): void {
    if (entry.removed) return;
    entry.removed = true;
    if (this.#byAddress.get(entry.key) === entry) this.#byAddress.delete(entry.key);
    if (entry.cid !== undefined && this.#byCid.get(entry.cid) === entry) this.#byCid.delete(entry.cid);
    this.#handshaking.delete(entry);
    this.#established.delete(entry);
    this.#awake.delete(entry);
    this.#hibernated.delete(entry);
  }

  oldestHandshaking(): SessionEntry | undefined {
    return first(this.#handshaking);
  }

  leastRecentlyActive(): SessionEntry | undefined {
    return first(this.#established);
  }

  leastRecentlyAwake(): SessionEntry | undefined {
    return first(this.#awake);
  }

  /** A snapshot of every entry (safe to remove entries while iterating it). */
  entries(): SessionEntry[] {
    return [...this.#byAddress.values()];
  }

  clear(): void {
    for (const entry of this.#byAddress.values()) entry.removed = true;
    this.#byAddress.clear();
    this.#byCid.clear();
    this.#handshaking.clear();
    this.#established.clear();
    this.#awake.clear();
    this.#hibernated.clear();
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const value of set) return value;
  return undefined;
}
