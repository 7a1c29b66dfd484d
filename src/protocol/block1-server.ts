// Block1 on the server side (RFC 7959 §2.3, §2.5, §2.9): request bodies reassembled from
// blocks into a bounded sink (memory, or a file the resource provides), 2.31 Continue
// between blocks, 4.08 for a missing or out-of-order block or a changed Content-Format,
// 4.13 with Size1 past the resource's limit, a per-peer limit on concurrent uploads, and
// expiry of uploads abandoned half way.

import { BlockError, blockOption, blockSize, readBlockOption, type BlockValue } from './block.js';
import { ResponseCode } from './codes.js';
import { ResponseError } from './errors.js';
import { ExpiringCache } from './expiring-cache.js';
import type { Clock, Logger, PeerAddress, TimerHandle } from './interfaces.js';
import { peerKey } from './interfaces.js';
import { getOption, getUintOption, OptionNumber, uintOption } from './options.js';
import type { CoapRequest, ResponseInit, UploadPolicy, UploadSink } from './server-types.js';

export interface Block1Limits {
  /** Uploads in progress from one peer; more get 5.03 until one ends. */
  readonly uploadsPerPeer: number;
  readonly uploads: number;
  /** An upload with no block for this long is dropped and its sink aborted. */
  readonly idleTimeoutMs: number;
}

// A client may retransmit one block for MAX_TRANSMIT_WAIT (93 s) and then try it again
// with a new message: an upload must outlive that, so the default is EXCHANGE_LIFETIME.
export const DEFAULT_BLOCK1_LIMITS: Block1Limits = { uploadsPerPeer: 4, uploads: 256, idleTimeoutMs: 247_000 };

interface Upload {
  readonly peer: string;
  readonly sink: UploadSink | undefined;
  readonly chunks: Buffer[];
  readonly contentFormat: number | undefined;
  received: number;
  lastBlock: BlockValue;
  lastActivity: number;
}

export type Block1Outcome =
  | { readonly done: false; readonly response: ResponseInit }
  | {
    readonly done: true; readonly request: CoapRequest; readonly block: BlockValue | undefined;
    /** Keep the final response, for a repeat of the last block (its answer was lost). */
    readonly remember: (response: ResponseInit) => void;
  };

/** How long a finished upload's final response is kept for a repeated last block: the
 * client's whole retransmission window, EXCHANGE_LIFETIME (RFC 7252 §4.8.2). */
const FINISHED_TTL_MS = 247_000;
const FINISHED_ENTRIES = 1024;

/** A 4.13 with Size1, so the client learns the limit (RFC 7959 §4). */
const tooLarge = (limit: number): ResponseError => new ResponseError(
  ResponseCode.RequestEntityTooLarge, `request body over ${limit} bytes`, { options: [uintOption(OptionNumber.Size1, limit)] },
);

export class Block1Reassembler {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: Block1Limits;
  /** Uploads in progress by (peer, path, Request-Tag): added by a block 0, removed by the
   * last block, an error, a new block 0 for the same key, or `idleTimeoutMs` of silence. */
  readonly #uploads = new Map<string, Upload>();
  /** Uploads in progress per peer, for the per-peer bound; zero entries removed. */
  readonly #perPeer = new Map<string, number>();
  /** Final responses of finished uploads by the same key plus the last block's offset. */
  readonly #finished: ExpiringCache<ResponseInit>;
  #sweepTimer: TimerHandle | undefined;

  constructor(clock: Clock, logger: Logger, limits: Block1Limits) {
    this.#clock = clock;
    this.#logger = logger;
    this.#limits = limits;
    this.#finished = new ExpiringCache(clock, FINISHED_ENTRIES, Number.MAX_SAFE_INTEGER);
  }

  get size(): number {
    return this.#uploads.size;
  }

  /** Takes one request to a resource: a whole body (no Block1) or one block of it. */
  async receive(request: CoapRequest, policy: UploadPolicy): Promise<Block1Outcome> {
    let block: BlockValue | undefined;
    try {
      block = readBlockOption(request.options, OptionNumber.Block1);
    } catch (error) {
      if (error instanceof BlockError) throw new ResponseError(ResponseCode.BadRequest, error.message, { diagnostic: 'bad Block1' });
      throw error;
    }
    if (block === undefined) return this.#whole(request, policy);
    const key = `${peerKey(request.peer)}|/${request.path.join('/')}|${getOption(request.options, OptionNumber.RequestTag)?.toString('hex') ?? ''}`;
    const size = blockSize(block.sizeExponent);
    const offset = block.num * size;
    if (block.moreBlocks && request.payload.length !== size) {
      throw new ResponseError(ResponseCode.BadRequest, `block ${block.num} of ${request.payload.length} bytes, not ${size}`, { diagnostic: 'short block' });
    }
    const announced = getUintOption(request.options, OptionNumber.Size1);
    if ((announced !== undefined && announced > policy.maxSize) || offset + request.payload.length > policy.maxSize) {
      await this.#drop(key);
      throw tooLarge(policy.maxSize);
    }
    let upload = this.#uploads.get(key);
    if (block.num === 0) {
      await this.#drop(key);
      upload = await this.#start(key, request, policy);
    } else if (upload !== undefined && upload.lastBlock.num === block.num && offset + request.payload.length === upload.received) {
      // The same block again (a retransmission with a new message ID): same answer.
      upload.lastActivity = this.#clock.now();
      return { done: false, response: this.#continue(block) };
    }
    if (upload === undefined && !block.moreBlocks) {
      const answered = this.#finished.get(`${key}@${offset}`);
      if (answered !== undefined) return { done: false, response: answered };
    }
    if (upload === undefined || offset !== upload.received) {
      throw new ResponseError(ResponseCode.RequestEntityIncomplete, `block at offset ${offset} was not expected`, { diagnostic: 'missing or out-of-order block' });
    }
    if (request.contentFormat !== upload.contentFormat) {
      await this.#drop(key);
      throw new ResponseError(ResponseCode.RequestEntityIncomplete, 'Content-Format changed mid-upload', { diagnostic: 'Content-Format changed' });
    }
    try {
      await this.#write(upload, request.payload, offset);
    } catch (error) {
      // A sink that cannot take the block ends the upload now, not at the idle timeout.
      await this.#drop(key);
      throw error;
    }
    upload.lastBlock = block;
    if (block.moreBlocks) return { done: false, response: this.#continue(block) };
    this.#forget(key, upload);
    const body = upload.sink === undefined ? Buffer.concat(upload.chunks) : Buffer.alloc(0);
    return {
      done: true, request: { ...request, payload: body, ...(upload.sink === undefined ? {} : { upload: upload.sink }) }, block,
      remember: (response) => this.#finished.set(`${key}@${offset}`, response, FINISHED_TTL_MS),
    };
  }

  /** Options for the final response: Block1 with M clear (§2.3). */
  static finalOptions(block: BlockValue): ReturnType<typeof blockOption> {
    return blockOption(OptionNumber.Block1, { ...block, moreBlocks: false });
  }

  /** The peer at this address is gone (its DTLS session ended): its uploads in progress
   * are dropped and their sinks aborted now, not at the idle timeout. */
  dropPeer(peer: PeerAddress): void {
    const gone = peerKey(peer);
    for (const [key, upload] of this.#uploads) if (upload.peer === gone) void this.#drop(key);
  }

  close(): void {
    this.#finished.clear();
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    for (const key of [...this.#uploads.keys()]) void this.#drop(key);
  }

  #continue(block: BlockValue): ResponseInit {
    return { code: ResponseCode.Continue, options: [blockOption(OptionNumber.Block1, { ...block, moreBlocks: true })] };
  }

  async #whole(request: CoapRequest, policy: UploadPolicy): Promise<Block1Outcome> {
    if (request.payload.length > policy.maxSize) throw tooLarge(policy.maxSize);
    if (policy.createSink === undefined) return { done: true, request, block: undefined, remember: () => {} };
    const sink = await policy.createSink(request);
    try {
      await sink.write(request.payload, 0);
    } catch (error) {
      await sink.abort();
      throw error;
    }
    return { done: true, request: { ...request, upload: sink }, block: undefined, remember: () => {} };
  }

  async #start(key: string, request: CoapRequest, policy: UploadPolicy): Promise<Upload> {
    const peer = peerKey(request.peer);
    if ((this.#perPeer.get(peer) ?? 0) >= this.#limits.uploadsPerPeer || this.#uploads.size >= this.#limits.uploads) {
      throw new ResponseError(ResponseCode.ServiceUnavailable, 'too many uploads in progress', { diagnostic: 'too many uploads', maxAge: 5 });
    }
    const upload: Upload = {
      peer,
      sink: policy.createSink === undefined ? undefined : await policy.createSink(request),
      chunks: [],
      contentFormat: request.contentFormat,
      received: 0,
      lastBlock: { num: -1, moreBlocks: true, sizeExponent: 0 },
      lastActivity: this.#clock.now(),
    };
    this.#uploads.set(key, upload);
    this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
    this.#armSweep();
    return upload;
  }

  async #write(upload: Upload, chunk: Buffer, offset: number): Promise<void> {
    if (upload.sink === undefined) upload.chunks.push(Buffer.from(chunk));
    else await upload.sink.write(chunk, offset);
    upload.received = offset + chunk.length;
    upload.lastActivity = this.#clock.now();
  }

  #forget(key: string, upload: Upload): void {
    this.#uploads.delete(key);
    const count = (this.#perPeer.get(upload.peer) ?? 1) - 1;
    if (count <= 0) this.#perPeer.delete(upload.peer);
    else this.#perPeer.set(upload.peer, count);
  }

  async #drop(key: string): Promise<void> {
    const upload = this.#uploads.get(key);
    if (upload === undefined) return;
    this.#forget(key, upload);
    try {
      await upload.sink?.abort();
    } catch (error) {
      this.#logger.warn({ err: error }, 'aborting an upload sink failed');
    }
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#uploads.size === 0) return;
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.#sweepTimer = undefined;
      const now = this.#clock.now();
      for (const [key, upload] of this.#uploads) {
        if (now - upload.lastActivity >= this.#limits.idleTimeoutMs) {
          this.#logger.debug({ key }, 'abandoned upload expired');
          void this.#drop(key);
        }
      }
      this.#armSweep();
    }, this.#limits.idleTimeoutMs / 2);
  }
}
