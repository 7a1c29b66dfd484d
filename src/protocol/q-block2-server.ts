// Q-Block2 on the server side (RFC 9177 §4.4, §7): a GET that asks with Q-Block2 for a
// representation larger than one block is answered with several responses on its token,
// each with Q-Block2, ETag and Size2: the blocks it names, or sets of MAX_PAYLOADS with
// the pause of §7.2 between them. Blocks are read from the random-access body per send;
// what is kept per transfer is bounded per peer and in total and forgotten when idle.

import { bufferBody, type BodySource } from './body.js';
import { blockOption, blockSize } from './block.js';
import { representationEtag, sliceBlock2 } from './block2-server.js';
import { codeClass, ResponseCode } from './codes.js';
import { ResponseError } from './errors.js';
import type { Clock, Logger, Peer, Random, TimerHandle } from './interfaces.js';
import { formatPeer, peerKey } from './interfaces.js';
import type { MessageLayer } from './message-layer.js';
import { getUintOption, OptionNumber, uintOption } from './options.js';
import type { QBlock2Ask } from './q-block2.js';
import { MAX_NAMED_BLOCKS, MAX_PAYLOADS, NON_MAX_RETRANSMIT } from './q-block2.js';
import { responseDraft } from './response-draft.js';
import type { CoapRequest, ResponseInit } from './server-types.js';

export interface QBlock2Limits {
  /** Answer Q-Block2; when false the option is unrecognised (4.02, RFC 7252 §5.4.1). */
  readonly enabled: boolean;
  /** Blocks per set of a request with M set (§7.2 MAX_PAYLOADS). */
  readonly maxPayloads: number;
  /** Blocks one request may name; more are not sent. */
  readonly maxNamedBlocks: number;
  /** Transfers kept in total, per peer (its identity, or its address without one). */
  readonly transfers: number;
  readonly transfersPerPeer: number;
  /** Bytes of in-memory representations kept in total (file-backed bodies count 0). */
  readonly bytes: number;
  /** A transfer nobody asked about for this long is forgotten. */
  readonly idleMs: number;
}

export const DEFAULT_QBLOCK2_LIMITS: QBlock2Limits = {
  enabled: true,
  maxPayloads: MAX_PAYLOADS,
  maxNamedBlocks: MAX_NAMED_BLOCKS,
  transfers: 1024,
  transfersPerPeer: 4,
  bytes: 16 * 1024 * 1024,
  // Longer than a client's wait for missing blocks (NON_RECEIVE_TIMEOUT, doubling) over a
  // few rounds; a transfer forgotten early only costs its handler one more run.
  idleMs: 60_000,
};

/** The server's Q-Block2 state now, for benchmarks and metrics. */
export interface QBlock2Stats {
  readonly transfers: number;
  readonly peers: number;
  /** Bytes of representations held in memory. */
  readonly bytesHeld: number;
  /** Transfers with blocks being sent or a set due after a pause. */
  readonly sending: number;
}

/** The first response, piggybacked or separate as for any request, and the sending of
 * the rest once it went. */
export interface QBlock2Answer {
  readonly first: ResponseInit;
  readonly rest?: () => void;
}

interface Transfer {
  readonly key: string;
  readonly owner: string;
  readonly peerKey: string;
  readonly init: ResponseInit;
  readonly body: BodySource;
  readonly etag: Buffer;
  readonly bytes: number;
  lastUsed: number;
  /** The burst being sent: a newer request for the transfer supersedes it. */
  sending: AbortController | undefined;
  pause: TimerHandle | undefined;
  /** Sets sent after a pause since the client last asked for anything. */
  silentSets: number;
}

export interface QBlock2ServerOptions {
  readonly messageLayer: MessageLayer;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly limits: QBlock2Limits;
  readonly maxBlockSizeExponent: number;
}

export class QBlock2Server {
  readonly #options: QBlock2ServerOptions;
  /** Transfers by (peer, identity, path, query, Accept), least recently used first: added
   * by a request that renders the representation, refreshed by each request for it,
   * removed when idle for `idleMs`, when a bound evicts the least recently used (of that
   * peer first), when the peer goes, or on close. */
  readonly #transfers = new Map<string, Transfer>();
  /** Transfers per owner (identity or address), for the per-peer bound. */
  readonly #owners = new Map<string, number>();
  #bytes = 0;
  #sweep: TimerHandle | undefined;

  constructor(options: QBlock2ServerOptions) {
    this.#options = options;
  }

  get stats(): QBlock2Stats {
    let sending = 0;
    for (const transfer of this.#transfers.values()) if (transfer.sending !== undefined) sending++;
    return { transfers: this.#transfers.size, peers: this.#owners.size, bytesHeld: this.#bytes, sending };
  }

  /** Answers a GET with Q-Block2. An in-memory representation is rendered by the request
   * naming block 0 and kept for the later ones (their blocks come from one
   * representation, and a list is rendered once per transfer, not per window), as Block2
   * does with its snapshots. A file-backed one is random access: each request runs the
   * handler again, so its checks (authorization, a removed resource) apply to every window,
   * and a new ETag tells the client the representation changed. */
  async answer(request: CoapRequest, ask: QBlock2Ask, render: () => ResponseInit | Promise<ResponseInit>): Promise<QBlock2Answer> {
    const key = transferKey(request);
    let transfer = ask.blocks[0] === 0 ? undefined : this.#touch(key);
    if (transfer !== undefined && transfer.init.body !== undefined) transfer = undefined;
    const sizeExponent = Math.min(ask.sizeExponent, this.#options.maxBlockSizeExponent);
    if (transfer === undefined) {
      const init = await render();
      if (codeClass(init.code) !== 2) return { first: init };
      const payload = typeof init.payload === 'string' ? Buffer.from(init.payload) : init.payload ?? Buffer.alloc(0);
      if (init.body === undefined && payload.length <= blockSize(sizeExponent)) return { first: init };
      // §4.4: every Q-Block2 response carries an ETag. One the handler did not give is the
      // payload's digest; a file-backed body without one is answered with Block2 instead,
      // which the client follows lock-step (reading a whole file to name it is not worth it).
      const etag = representationEtag(init);
      if (etag === undefined) return { first: await block2Instead(init, ask, this.#options.maxBlockSizeExponent) };
      transfer = this.#keep(request, key, init, init.body ?? bufferBody(payload), etag, init.body === undefined ? payload.length : 0);
    }
    transfer.silentSets = 0;
    const blocks = this.#blocksFor(transfer, ask, sizeExponent);
    if (blocks.length === 0) {
      throw new ResponseError(ResponseCode.BadOption, `no asked block within the ${transfer.body.size} bytes`, { diagnostic: 'block out of range' });
    }
    // A transfer too large to keep is served for this request only: no sets after it.
    const streamNext = ask.streamFrom === undefined || this.#transfers.get(key) !== transfer ? undefined
      : Math.floor(ask.streamFrom * blockSize(ask.sizeExponent) / blockSize(sizeExponent)) + this.#options.limits.maxPayloads;
    const first = await this.#response(transfer, blocks[0]!, sizeExponent);
    const kept = transfer;
    return { first, rest: () => this.#send(kept, request, blocks.slice(1), sizeExponent, streamNext) };
  }

  /** The transport's association with `peer` ended: its transfers go. */
  dropPeer(peer: Peer): void {
    const key = peerKey(peer);
    for (const transfer of [...this.#transfers.values()]) if (transfer.peerKey === key) this.#forget(transfer);
  }

  close(): void {
    for (const transfer of [...this.#transfers.values()]) this.#forget(transfer);
    if (this.#sweep !== undefined) this.#options.clock.clearTimeout(this.#sweep);
    this.#sweep = undefined;
  }

  /** The asked blocks in our block size (smaller than the client's when it asked for more
   * than we send, RFC 7959 §2.4: the same bytes in more blocks), within the body, capped. */
  #blocksFor(transfer: Transfer, ask: QBlock2Ask, sizeExponent: number): number[] {
    const size = blockSize(sizeExponent);
    const askedSize = blockSize(ask.sizeExponent);
    const count = blocksIn(transfer.body.size, sizeExponent);
    const blocks: number[] = [];
    for (const num of ask.blocks) {
      const end = (num + 1) * askedSize;
      for (let block = Math.floor(num * askedSize / size); block * size < end && block < count; block++) {
        if (blocks.length >= this.#options.limits.maxNamedBlocks) return blocks;
        if (blocks[blocks.length - 1] !== block) blocks.push(block);
      }
    }
    return blocks;
  }

  /** Sends `blocks` one after the other without waiting (NON), or as CONs paced by NSTART
   * for a CON request (§7.1, the first went in the ACK); then, for a request with M set,
   * the next set after NON_TIMEOUT_RANDOM unless a request for the transfer comes first
   * (§7.2: a 'Continue' sends it at once). After NON_MAX_RETRANSMIT sets with no word from
   * the client the sets stop: a body is not poured onto a silent (or forged) address. */
  #send(transfer: Transfer, request: CoapRequest, blocks: readonly number[], sizeExponent: number, streamNext: number | undefined): void {
    this.#stop(transfer);
    const controller = new AbortController();
    transfer.sending = controller;
    const { messageLayer, logger, clock } = this.#options;
    const run = async (): Promise<void> => {
      for (const num of blocks) {
        const init = await this.#response(transfer, num, sizeExponent);
        if (controller.signal.aborted) return;
        const draft = responseDraft(request.token, init);
        if (request.confirmable) {
          messageLayer.sendConfirmable(request.peer, draft, controller.signal).catch(() => controller.abort());
        } else {
          messageLayer.sendNonConfirmable(request.peer, draft);
        }
      }
      const count = blocksIn(transfer.body.size, sizeExponent);
      if (streamNext === undefined || streamNext >= count || controller.signal.aborted) {
        if (transfer.sending === controller) transfer.sending = undefined;
        return;
      }
      const set = Array.from({ length: Math.min(this.#options.limits.maxPayloads, count - streamNext) }, (_, index) => streamNext + index);
      transfer.pause = clock.setTimeout(() => {
        transfer.pause = undefined;
        if (transfer.sending !== controller) return;
        if (++transfer.silentSets > NON_MAX_RETRANSMIT) {
          transfer.sending = undefined;
          return;
        }
        this.#touch(transfer.key);
        this.#send(transfer, request, set, sizeExponent, streamNext + set.length);
      }, this.#nonTimeoutRandom(request.peer));
    };
    run().catch((error: unknown) => {
      if (transfer.sending === controller) transfer.sending = undefined;
      logger.debug({ err: error, peer: formatPeer(request.peer) }, 'Q-Block2 burst ended');
    });
  }

  /** §7.2: NON_TIMEOUT (ACK_TIMEOUT, or the RTO learnt for the peer) dithered by
   * ACK_RANDOM_FACTOR, as a first retransmission timeout is (RFC 7252 §4.2). */
  #nonTimeoutRandom(peer: Peer): number {
    const { messageLayer, random } = this.#options;
    const { ackTimeout, ackRandomFactor, congestionControl } = messageLayer.parameters;
    const nonTimeout = congestionControl === 'cocoa' ? messageLayer.rtt(peer)?.rto ?? ackTimeout : ackTimeout;
    return nonTimeout * (1 + random.float() * (ackRandomFactor - 1));
  }

  #response(transfer: Transfer, num: number, sizeExponent: number): ResponseInit | Promise<ResponseInit> {
    const size = blockSize(sizeExponent);
    const offset = num * size;
    const { body } = transfer;
    const { body: _body, payload: _payload, ...rest } = transfer.init;
    const options = (transfer.init.options ?? []).filter((option) => option.number !== OptionNumber.ETag);
    const block = (chunk: Buffer): ResponseInit => ({
      ...rest,
      etag: transfer.etag,
      payload: chunk,
      options: [
        ...options,
        blockOption(OptionNumber.QBlock2, { num, moreBlocks: offset + chunk.length < body.size, sizeExponent }),
        uintOption(OptionNumber.Size2, body.size),
      ],
    });
    const chunk = body.read(offset, Math.min(size, body.size - offset));
    return chunk instanceof Promise ? chunk.then(block) : block(chunk);
  }

  #keep(request: CoapRequest, key: string, init: ResponseInit, body: BodySource, etag: Buffer, bytes: number): Transfer {
    const old = this.#transfers.get(key);
    if (old !== undefined) this.#forget(old);
    const owner = request.peer.identity ?? peerKey(request.peer);
    const transfer: Transfer = {
      key, owner, peerKey: peerKey(request.peer), init, body, etag, bytes,
      lastUsed: this.#options.clock.now(), sending: undefined, pause: undefined, silentSets: 0,
    };
    const { limits } = this.#options;
    // Too large to keep: served from this request alone (a later one renders again).
    if (bytes > limits.bytes) return transfer;
    if ((this.#owners.get(owner) ?? 0) >= limits.transfersPerPeer) {
      for (const other of this.#transfers.values()) {
        if (other.owner === owner) {
          this.#forget(other);
          break;
        }
      }
    }
    for (const oldest of this.#transfers.values()) {
      if (this.#transfers.size < limits.transfers && this.#bytes + bytes <= limits.bytes) break;
      this.#forget(oldest);
    }
    this.#transfers.set(key, transfer);
    this.#owners.set(owner, (this.#owners.get(owner) ?? 0) + 1);
    this.#bytes += bytes;
    this.#arm();
    return transfer;
  }

  #touch(key: string): Transfer | undefined {
    const transfer = this.#transfers.get(key);
    if (transfer === undefined) return undefined;
    this.#transfers.delete(key);
    transfer.lastUsed = this.#options.clock.now();
    this.#transfers.set(key, transfer);
    return transfer;
  }

  #stop(transfer: Transfer): void {
    transfer.sending?.abort();
    transfer.sending = undefined;
    if (transfer.pause !== undefined) this.#options.clock.clearTimeout(transfer.pause);
    transfer.pause = undefined;
  }

  #forget(transfer: Transfer): void {
    this.#stop(transfer);
    if (this.#transfers.get(transfer.key) !== transfer) return;
    this.#transfers.delete(transfer.key);
    this.#bytes -= transfer.bytes;
    const owned = (this.#owners.get(transfer.owner) ?? 1) - 1;
    if (owned > 0) this.#owners.set(transfer.owner, owned);
    else this.#owners.delete(transfer.owner);
  }

  /** One timer for the least recently used transfer's expiry; an idle server has none. */
  #arm(): void {
    if (this.#sweep !== undefined) return;
    const oldest = this.#transfers.values().next();
    if (oldest.done === true) return;
    const { clock, limits } = this.#options;
    this.#sweep = clock.setTimeout(() => {
      this.#sweep = undefined;
      const now = clock.now();
      for (const transfer of [...this.#transfers.values()]) {
        if (now - transfer.lastUsed < limits.idleMs) break;
        this.#forget(transfer);
      }
      this.#arm();
    }, Math.max(1, oldest.value.lastUsed + limits.idleMs - clock.now()));
  }
}

/** Blocks of this size in a body (block.ts's blockCount without its 20-bit bound: a large
 * body in small blocks still has its first 2^20 blocks to ask for). */
function blocksIn(size: number, sizeExponent: number): number {
  return Math.max(1, Math.ceil(size / blockSize(sizeExponent)));
}

/** A transfer is one representation for one client: (peer, identity, path, query, Accept). */
function transferKey(request: CoapRequest): string {
  const accept = getUintOption(request.options, OptionNumber.Accept) ?? '';
  return `${peerKey(request.peer)}|${request.peer.identity ?? ''}|/${request.path.join('/')}?${request.query.join('&')}|${accept}`;
}

/** The first asked block as a Block2 response (RFC 7959): for a representation we give no
 * ETag, so the client continues with lock-step Block2. */
function block2Instead(init: ResponseInit, ask: QBlock2Ask, maxSizeExponent: number): ResponseInit | Promise<ResponseInit> {
  return sliceBlock2(init, { num: ask.blocks[0] ?? 0, moreBlocks: false, sizeExponent: ask.sizeExponent }, maxSizeExponent);
}
