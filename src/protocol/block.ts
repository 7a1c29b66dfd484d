// Block1/Block2 option values and block arithmetic: RFC 7959 §2.2 (NUM, M, SZX in a uint
// of up to 3 bytes; offsets and sizes), §2.4-§2.5 (a peer switching to a smaller block
// size). Pure: the transfers themselves live elsewhere.

import { CoapError } from './errors.js';
import { decodeUint, encodeUint, getOption, type CoapOption } from './options.js';

export interface BlockValue {
  /** NUM: the block's number in a sequence of blocks of this size. */
  readonly num: number;
  /** M: more blocks follow (§2.2); what it says in a Block1 response is set by §2.3. */
  readonly moreBlocks: boolean;
  /** SZX: the block size is 2^(sizeExponent + 4) bytes. */
  readonly sizeExponent: number;
}

/** A malformed or unrepresentable block value. A server answers a request carrying one
 * with 4.00 (§2.2 for SZX 7) or 4.02 (a bad critical option, RFC 7252 §5.4.1). */
export class BlockError extends CoapError {
  constructor(message: string) {
    super('COAP_ERR_BLOCK', message);
  }
}

// §2.2: NUM takes up to 20 bits of a 3-byte value.
export const MAX_BLOCK_NUMBER = 0xfffff;
// §2.2: SZX 7 (2048 bytes) is reserved.
export const MAX_SIZE_EXPONENT = 6;
const MAX_BLOCK_OPTION_LENGTH = 3;
const MORE_BLOCKS_BIT = 0x8;
const SIZE_EXPONENT_MASK = 0x7;

export function blockSize(sizeExponent: number): number {
  checkSizeExponent(sizeExponent);
  return 2 ** (sizeExponent + 4);
}

/** The SZX for a block size of 16, 32, ... 1024 bytes. */
export function sizeExponentFor(size: number): number {
  const sizeExponent = Math.log2(size) - 4;
  if (!Number.isInteger(sizeExponent) || sizeExponent < 0 || sizeExponent > MAX_SIZE_EXPONENT) {
    throw new BlockError(`block size ${size} is not a power of two from 16 to 1024`);
  }
  return sizeExponent;
}

export function encodeBlock(value: BlockValue): number {
  checkBlockNumber(value.num);
  checkSizeExponent(value.sizeExponent);
  return value.num * 16 + (value.moreBlocks ? MORE_BLOCKS_BIT : 0) + value.sizeExponent;
}

export function decodeBlock(value: number): BlockValue {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffff) {
    throw new BlockError(`block option value ${value} does not fit 3 bytes`);
  }
  const sizeExponent = value & SIZE_EXPONENT_MASK;
  if (sizeExponent > MAX_SIZE_EXPONENT) throw new BlockError(`reserved block size exponent ${sizeExponent}`);
  return { num: value >>> 4, moreBlocks: (value & MORE_BLOCKS_BIT) !== 0, sizeExponent };
}

/** The byte offset of the block's first byte: NUM * 2^(SZX + 4) (§2.2). */
export function blockOffset(value: BlockValue): number {
  checkBlockNumber(value.num);
  return value.num * blockSize(value.sizeExponent);
}

/** A Block1, Block2, Q-Block1 or Q-Block2 option (RFC 9177 reuses the format). */
export function blockOption(number: number, value: BlockValue): CoapOption {
  return { number, value: encodeUint(encodeBlock(value)) };
}

/** The first instance of a block option, or undefined when there is none. */
export function readBlockOption(options: readonly CoapOption[], number: number): BlockValue | undefined {
  const value = getOption(options, number);
  if (value === undefined) return undefined;
  if (value.length > MAX_BLOCK_OPTION_LENGTH) throw new BlockError(`block option of ${value.length} bytes, at most 3`);
  return decodeBlock(decodeUint(value));
}

/** The number of the block of the given size that holds the byte at `offset`. */
export function blockForOffset(offset: number, sizeExponent: number): number {
  if (!Number.isInteger(offset) || offset < 0) throw new BlockError(`bad byte offset ${offset}`);
  const num = Math.floor(offset / blockSize(sizeExponent));
  checkBlockNumber(num);
  return num;
}

/** How many blocks of the given size a body of `totalSize` bytes takes. An empty body still
 * takes one, empty, block (NUM 0 with M unset), so the count is at least 1. */
export function blockCount(totalSize: number, sizeExponent: number): number {
  if (!Number.isInteger(totalSize) || totalSize < 0) throw new BlockError(`bad body size ${totalSize}`);
  const count = Math.max(1, Math.ceil(totalSize / blockSize(sizeExponent)));
  // The last block's number must fit NUM: 2^20 blocks, 1 GiB at 1024 bytes.
  checkBlockNumber(count - 1);
  return count;
}

/**
 * The block of size 2^(newSizeExponent + 4) that starts at the same byte offset: for late
 * negotiation (§2.4 Block2, §2.5 Block1), when a peer switches to a smaller size, the block
 * at NUM becomes NUM * 2^(oldSZX - newSZX). A larger size only fits an offset that is a
 * multiple of it. `moreBlocks` is kept; a sender that knows the body sets it itself.
 */
export function rescale(value: BlockValue, newSizeExponent: number): BlockValue {
  const offset = blockOffset(value);
  const size = blockSize(newSizeExponent);
  if (offset % size !== 0) {
    throw new BlockError(`block ${value.num} of ${blockSize(value.sizeExponent)} bytes does not start on a ${size}-byte block`);
  }
  const num = offset / size;
  checkBlockNumber(num);
  return { num, moreBlocks: value.moreBlocks, sizeExponent: newSizeExponent };
}

function checkBlockNumber(num: number): void {
  if (!Number.isInteger(num) || num < 0 || num > MAX_BLOCK_NUMBER) {
    throw new BlockError(`block number ${num} does not fit 20 bits`);
  }
}

function checkSizeExponent(sizeExponent: number): void {
  if (!Number.isInteger(sizeExponent) || sizeExponent < 0 || sizeExponent > MAX_SIZE_EXPONENT) {
    throw new BlockError(`block size exponent ${sizeExponent} is not 0..6`);
  }
}
