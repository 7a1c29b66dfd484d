// Block-wise transfers on the client side (RFC 7959): Block2 retrieval streamed to a sink
// with progress, resume from an offset, and a restart from zero when the ETag changes
// (§2.4); Block1 uploads streamed from a source, following the server's block size (§2.5)
// and stopping on 4.13 with the Size1 limit (§2.9.3).

import type { BodySource } from './body.js';
import { blockSize, readBlockOption, type BlockValue } from './block.js';
import type { CoapResponse } from './client.js';
import { codeClass, formatCode, ResponseCode } from './codes.js';
import { BlockTransferError, RequestTimeoutError, RetransmitTimeoutError } from './errors.js';
import { getOption, getUintOption, OptionNumber } from './options.js';
import type { QBlockDownload } from './transfer-tuner.js';

export interface BlockSink {
  write(chunk: Buffer, offset: number): void | Promise<void>;
  /** Drop what was written: the representation changed and the transfer starts over. */
  reset(): void | Promise<void>;
}

export interface DownloadOptions {
  /** Resume here; rounded down to a block boundary. */
  readonly startOffset?: number;
  /** The ETag the bytes before `startOffset` belong to; a different one restarts at 0. */
  readonly etag?: Buffer;
  readonly sizeExponent?: number;
  readonly maxSize?: number;
  readonly maxRestarts?: number;
  /** Times one block request is repeated after a timeout. */
  readonly blockRetries?: number;
  readonly onProgress?: (received: number, total: number | undefined) => void;
  /** Ask for Q-Block2 (RFC 9177): bursts of blocks, only the missing ones asked again;
   * falls back to lock-step Block2 against a server that does not know the option. */
  readonly qblock?: QBlockDownload;
}

export interface DownloadResult {
  readonly size: number;
  readonly etag: Buffer | undefined;
  /** The response that carried the last block. */
  readonly last: CoapResponse;
}

const DEFAULT_MAX_SIZE = 1 << 30;
export const DEFAULT_BLOCK_RETRIES = 3;

/** One block request, tried again when it times out: a block-wise transfer can resume at
 * the block it stopped at, so one lost exchange among thousands need not end it. */
async function withRetries(attempt: () => Promise<CoapResponse>, retries: number): Promise<CoapResponse> {
  for (let tried = 0; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      const timedOut = error instanceof RetransmitTimeoutError || error instanceof RequestTimeoutError;
      if (!timedOut || tried >= retries) throw error;
    }
  }
}

/** Retrieves a representation block by block; `fetchBlock` sends the request with the
 * given Block2 (and no Observe). */
export async function downloadBlocks(
  fetchBlock: (block: BlockValue) => Promise<CoapResponse>, sink: BlockSink, options: DownloadOptions = {},
): Promise<DownloadResult> {
  let sizeExponent = options.sizeExponent ?? 6;
  let offset = Math.floor((options.startOffset ?? 0) / blockSize(sizeExponent)) * blockSize(sizeExponent);
  let etag = offset > 0 ? options.etag : undefined;
  let restarts = 0;
  const maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
  const restart = async (why: string): Promise<void> => {
    if (++restarts > (options.maxRestarts ?? 3)) throw new BlockTransferError(`gave up after ${restarts - 1} restarts: ${why}`);
    await sink.reset();
    offset = 0;
    etag = undefined;
  };
  for (let requests = 0; requests < 4 * (maxSize / 16 + 1); requests++) {
    const block2 = { num: offset / blockSize(sizeExponent), moreBlocks: false, sizeExponent };
    const response = await withRetries(() => fetchBlock(block2), options.blockRetries ?? DEFAULT_BLOCK_RETRIES);
    if (codeClass(response.code) !== 2) throw new BlockTransferError(`block request answered ${formatCode(response.code)}`, response.code);
    const responseEtag = getOption(response.options, OptionNumber.ETag);
    if (etag !== undefined && (responseEtag === undefined || !responseEtag.equals(etag))) {
      await restart('the representation changed (ETag)');
      continue;
    }
    etag = responseEtag;
    const block = readBlockOption(response.options, OptionNumber.Block2);
    if (block === undefined) {
      // The server sent the whole representation at once (no Block2).
      if (offset > 0) await sink.reset();
      await sink.write(response.payload, 0);
      options.onProgress?.(response.payload.length, response.payload.length);
      return { size: response.payload.length, etag, last: response };
    }
    const blockOffset = block.num * blockSize(block.sizeExponent);
    if (blockOffset !== offset) throw new BlockTransferError(`asked for offset ${offset}, got a block at ${blockOffset}`);
    // §2.4: the server may answer with a smaller size; we follow it from here on.
    sizeExponent = block.sizeExponent;
    const total = getUintOption(response.options, OptionNumber.Size2);
    if (offset + response.payload.length > maxSize || (total !== undefined && total > maxSize)) {
      throw new BlockTransferError(`representation larger than the ${maxSize}-byte limit`);
    }
    if (block.moreBlocks && response.payload.length !== blockSize(sizeExponent)) {
      throw new BlockTransferError(`block ${block.num} has ${response.payload.length} bytes, not ${blockSize(sizeExponent)}`);
    }
    await sink.write(response.payload, offset);
    offset += response.payload.length;
    options.onProgress?.(offset, total);
    if (!block.moreBlocks) return { size: offset, etag, last: response };
  }
  throw new BlockTransferError('too many block requests');
}

/** A sink that collects a bounded body in memory. */
export function memorySink(): BlockSink & { body(): Buffer } {
  let chunks: Buffer[] = [];
  return {
    write: (chunk) => { chunks.push(Buffer.from(chunk)); },
    reset: () => { chunks = []; },
    body: () => Buffer.concat(chunks),
  };
}

export interface UploadOptions {
  readonly sizeExponent?: number;
  /** Times one block is sent again after a timeout; the server answers a repeated block
   * as it answered the first copy. */
  readonly blockRetries?: number;
  readonly onProgress?: (sent: number, total: number) => void;
}

/** Sends `source` block by block; `sendBlock` sends one request with the given Block1, the
 * chunk as payload and, on the first block, Size1. Resolves with the final response. */
export async function uploadBlocks(
  sendBlock: (block: BlockValue, chunk: Buffer, size1: number | undefined) => Promise<CoapResponse>,
  source: BodySource, options: UploadOptions = {},
): Promise<CoapResponse> {
  let sizeExponent = options.sizeExponent ?? 6;
  let offset = 0;
  for (let requests = 0; requests <= source.size / 16 + 1; requests++) {
    const size = blockSize(sizeExponent);
    const chunk = await source.read(offset, Math.min(size, source.size - offset));
    const moreBlocks = offset + chunk.length < source.size;
    const block1 = { num: offset / size, moreBlocks, sizeExponent };
    // A body in one block is an ordinary request: sent again it would run the handler
    // again. Any later block is safe to repeat (the server answers it as before).
    const retries = block1.num === 0 && !moreBlocks ? 0 : options.blockRetries ?? DEFAULT_BLOCK_RETRIES;
    const response = await withRetries(() => sendBlock(block1, chunk, offset === 0 ? source.size : undefined), retries);
    if (response.code === ResponseCode.RequestEntityTooLarge) {
      const limit = getUintOption(response.options, OptionNumber.Size1);
      throw new BlockTransferError(`the server takes at most ${limit ?? 'an unknown number of'} bytes`, response.code);
    }
    if (!moreBlocks || response.code !== ResponseCode.Continue) {
      if (!moreBlocks && codeClass(response.code) === 2) options.onProgress?.(source.size, source.size);
      if (moreBlocks && codeClass(response.code) === 2) {
        throw new BlockTransferError(`the server answered ${formatCode(response.code)} before the last block`, response.code);
      }
      return response;
    }
    offset += chunk.length;
    options.onProgress?.(offset, source.size);
    // §2.5: a smaller SZX in the 2.31 is the size the server wants from now on.
    const acknowledged = readBlockOption(response.options, OptionNumber.Block1);
    if (acknowledged !== undefined && acknowledged.sizeExponent < sizeExponent) sizeExponent = acknowledged.sizeExponent;
  }
  throw new BlockTransferError('too many block requests');
}
