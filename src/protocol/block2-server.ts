// Block2 on the server side (RFC 7959 §2.2-§2.4): a representation larger than the block
// size, or any representation a request asks for by block, is answered one block at a
// time from a random-access source, with Block2 and Size2; early negotiation (the
// client's size, or ours when smaller) and random access for resume.

import { createHash } from 'node:crypto';
import { bufferBody, type BodySource } from './body.js';
import { BlockError, blockOption, blockSize, readBlockOption, type BlockValue } from './block.js';
import { codeClass, ResponseCode } from './codes.js';
import { ResponseError } from './errors.js';
import { getOption, OptionNumber, uintOption, type CoapOption } from './options.js';
import type { ResponseInit } from './server-types.js';

/** The requested Block2, or a 4.00 for a value that cannot be one (§2.2). */
export function requestedBlock2(options: readonly CoapOption[]): BlockValue | undefined {
  try {
    return readBlockOption(options, OptionNumber.Block2);
  } catch (error) {
    if (error instanceof BlockError) throw new ResponseError(ResponseCode.BadRequest, error.message, { diagnostic: 'bad Block2' });
    throw error;
  }
}

/** Whether a response needs slicing: a body source, a payload over one block (or over
 * `wholeBytes`, what the transport carries whole: RFC 8323 §4 messages are as large as the
 * peer's Max-Message-Size), or a request that asked for a block. Decided before any byte
 * is read. */
export function needsBlock2(init: ResponseInit, requested: BlockValue | undefined, maxSizeExponent: number, wholeBytes = 0): boolean {
  if (codeClass(init.code) !== 2) return false;
  if (init.body !== undefined || requested !== undefined) return true;
  return init.payload !== undefined && init.payload.length > Math.max(blockSize(maxSizeExponent), wholeBytes);
}

/** The block of `init`'s representation that `requested` names (block 0 when none): its
 * payload plus Block2 (with M) and Size2. 4.02 for a block past the end. */
export function sliceBlock2(
  init: ResponseInit, requested: BlockValue | undefined, maxSizeExponent: number,
): ResponseInit | Promise<ResponseInit> {
  const body: BodySource = init.body
    ?? bufferBody(typeof init.payload === 'string' ? Buffer.from(init.payload) : init.payload ?? Buffer.alloc(0));
  // §2.4: we use the size the client asked for or a smaller one, keeping the byte offset.
  const sizeExponent = Math.min(requested?.sizeExponent ?? maxSizeExponent, maxSizeExponent);
  const size = blockSize(sizeExponent);
  const offset = requested === undefined ? 0 : requested.num * blockSize(requested.sizeExponent);
  if (offset > 0 && offset >= body.size) {
    throw new ResponseError(ResponseCode.BadOption, `block at offset ${offset} is past the end (${body.size} bytes)`,
      { diagnostic: 'block out of range' });
  }
  if (requested === undefined && body.size <= size && init.body === undefined) return init;
  const block = (chunk: Buffer): ResponseInit => {
    const { body: _body, ...rest } = init;
    return {
      ...rest,
      payload: chunk,
      options: [
        ...(init.options ?? []),
        blockOption(OptionNumber.Block2, { num: Math.floor(offset / size), moreBlocks: offset + chunk.length < body.size, sizeExponent }),
        uintOption(OptionNumber.Size2, body.size),
      ],
    };
  };
  // A block already in memory is answered in the same turn: no promise, no ACK timer.
  const chunk = body.read(offset, Math.min(size, body.size - offset));
  return chunk instanceof Promise ? chunk.then(block) : block(chunk);
}

/** The ETag of an in-memory representation sent in several blocks: the handler's, else the
 * first 8 bytes of the payload's sha256. A client joining blocks checks it on each (RFC 7959
 * §2.4) and starts again when the representation changed between them, instead of joining
 * the start of one version to the rest of another. Undefined for a body source without one
 * (reading a whole file to name it is not worth it). */
export function representationEtag(init: ResponseInit): Buffer | undefined {
  const given = init.etag ?? getOption(init.options ?? [], OptionNumber.ETag);
  if (given !== undefined || init.body !== undefined) return given;
  const payload = typeof init.payload === 'string' ? Buffer.from(init.payload) : init.payload ?? Buffer.alloc(0);
  return createHash('sha256').update(payload).digest().subarray(0, 8);
}
