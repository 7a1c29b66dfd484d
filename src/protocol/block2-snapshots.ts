// The rendered GET representations that went out block-wise, kept so that a peer's
// follow-up blocks slice the representation its block 0 came from (RFC 7959 §2.4: one
// consistent representation, rendered once rather than once per block). A representation
// is kept once however many peers fetch it (a thousand nodes reading one manifest hold one
// copy), and each peer points at the ones it is reading: a bounded few per peer, so a crowd
// of peers, or one peer asking for many resources, cannot push out another's snapshot
// mid-transfer and make its client start over on a changed ETag. A peer is its address and
// its identity: a snapshot outlives the peer's DTLS session (a client that handshakes anew
// mid-transfer, its liveness probe on a busy gateway, goes on reading it) but is never
// shown to another identity that comes from the same address.

import { createHash } from 'node:crypto';
import { ExpiringCache } from './expiring-cache.js';
import type { Clock } from './interfaces.js';
import { peerKey, type Peer } from './interfaces.js';
import { getOption, getUintOption, OptionNumber } from './options.js';
import type { CoapRequest, ResponseInit } from './server-types.js';

export interface SnapshotLimits {
  /** Peers with snapshots; past it the one that kept nothing for longest goes. */
  readonly peers: number;
  /** Resources one peer reads block-wise at once; past it its oldest goes. */
  readonly perPeer: number;
  /** Distinct representations kept, and their bytes. */
  readonly representations: number;
  readonly bytes: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = { peers: 20_000, perPeer: 4, representations: 1024, bytes: 16 * 1024 * 1024 };

interface Pointer {
  readonly representation: string;
  readonly expiresAt: number;
}

/** Who reads: the peer's address and authenticated identity. */
const readerKey = (peer: Peer): string => `${peerKey(peer)}|${peer.identity ?? ''}`;

/** What a representation is of: the request's path, query and Accept. */
const resourceKey = (request: CoapRequest): string =>
  `/${request.path.join('/')}?${request.query.join('&')}|${getUintOption(request.options, OptionNumber.Accept) ?? ''}`;

export class Block2Snapshots {
  readonly #clock: Clock;
  readonly #lifetimeMs: number;
  readonly #limits: SnapshotLimits;
  /** By resource, ETag and content digest: peers share a copy only when they got the
   * same bytes (two viewers of one URI may be shown different ones). */
  readonly #representations: ExpiringCache<ResponseInit>;
  /** Per peer, oldest kept first, its resources (oldest first) and what each points at. */
  readonly #peers = new Map<string, Map<string, Pointer>>();

  /** `lifetimeMs`: how long a snapshot serves after its block 0 (EXCHANGE_LIFETIME). */
  constructor(clock: Clock, lifetimeMs: number, limits: Partial<SnapshotLimits> = {}) {
    this.#clock = clock;
    this.#lifetimeMs = lifetimeMs;
    this.#limits = { ...DEFAULT_SNAPSHOT_LIMITS, ...limits };
    this.#representations = new ExpiringCache(clock, this.#limits.representations, this.#limits.bytes);
  }

  /** Peers with a snapshot (0: nothing to look up). */
  get size(): number {
    return this.#peers.size;
  }

  /** Keeps `init` (an in-memory payload carrying its ETag) as what `request`'s peer reads
   * `request`'s resource from, replacing what it read before. */
  keep(request: CoapRequest, init: ResponseInit): void {
    const payload = typeof init.payload === 'string' ? Buffer.from(init.payload) : init.payload ?? Buffer.alloc(0);
    const etag = init.etag ?? getOption(init.options ?? [], OptionNumber.ETag) ?? Buffer.alloc(0);
    const resource = resourceKey(request);
    const digest = createHash('sha256').update(payload).digest('base64url').slice(0, 22);
    const representation = `${resource}|${etag.toString('hex')}|${digest}`;
    const now = this.#clock.now();
    // The copy kept already, if any, is shared (and its lifetime renewed).
    this.#representations.set(representation, this.#representations.get(representation) ?? init, this.#lifetimeMs, payload.length);
    const peer = readerKey(request.peer);
    const pointers = this.#peers.get(peer) ?? new Map<string, Pointer>();
    // Re-inserted: the peers map stays ordered by when each last kept something.
    this.#peers.delete(peer);
    this.#peers.set(peer, pointers);
    pointers.delete(resource);
    pointers.set(resource, { representation, expiresAt: now + this.#lifetimeMs });
    if (pointers.size > this.#limits.perPeer) pointers.delete(pointers.keys().next().value!);
    this.#forgetStale(now);
  }

  /** The representation `request`'s peer is reading `request`'s resource from, if kept. */
  get(request: CoapRequest): ResponseInit | undefined {
    const peer = readerKey(request.peer);
    const pointers = this.#peers.get(peer);
    const resource = resourceKey(request);
    const pointer = pointers?.get(resource);
    if (pointers === undefined || pointer === undefined) return undefined;
    if (pointer.expiresAt <= this.#clock.now()) {
      pointers.delete(resource);
      if (pointers.size === 0) this.#peers.delete(peer);
      return undefined;
    }
    return this.#representations.get(pointer.representation);
  }

  clear(): void {
    this.#peers.clear();
    this.#representations.clear();
  }

  /** Past the bound of peers the oldest goes; and the oldest (a peer that kept nothing
   * since) goes once all it kept expired, a couple per call, so peers that never come
   * back cost nothing for long and no timer is needed. */
  #forgetStale(now: number): void {
    while (this.#peers.size > this.#limits.peers) this.#peers.delete(this.#peers.keys().next().value!);
    for (let checked = 0; checked < 2; checked++) {
      const oldest = this.#peers.entries().next();
      if (oldest.done === true) return;
      const [peer, pointers] = oldest.value;
      for (const pointer of pointers.values()) if (pointer.expiresAt > now) return;
      this.#peers.delete(peer);
    }
  }
}
