// Q-Block2 (RFC 9177) arithmetic, pure: the parameters of §7.2, the set of Q-Block2
// options of a request read into the blocks it asks for (§4.4), and the client's
// bookkeeping of what arrived, what is missing and what to ask for next.

import { BlockError, blockOption, blockSize, decodeBlock, MAX_BLOCK_NUMBER, MAX_SIZE_EXPONENT } from './block.js';
import { decodeUint, OptionNumber, type CoapOption } from './options.js';

/** §7.2: blocks sent in one set before the sender pauses, and how often a receiver asks
 * again for missing blocks without hearing anything. */
export const MAX_PAYLOADS = 10;
export const NON_MAX_RETRANSMIT = 4;
/** Most blocks one request may name, and most a client asks for at once: the bound of
 * the client's reassembly buffer and of one request's burst at the server. */
export const MAX_NAMED_BLOCKS = 64;

/** What a request's Q-Block2 options ask for (§4.4). */
export interface QBlock2Ask {
  readonly sizeExponent: number;
  /** Blocks to send, ascending, without repeats, at most the named cap; some may lie past
   * the end of the body (the server drops those). */
  readonly blocks: readonly number[];
  /** The first block of a set asked with M set and NUM a multiple of MAX_PAYLOADS (NUM 0:
   * the whole body; any other: 'Continue'): the sets after it follow by themselves. */
  readonly streamFrom: number | undefined;
}

/**
 * Reads every Q-Block2 option of a request. M unset asks for that block alone; M set with
 * NUM 0 asks for the whole body, with NUM a multiple of MAX_PAYLOADS for that set and the
 * rest ('Continue'), with any other NUM for the rest of that block's set (§4.4). All
 * options must share one SZX. Throws BlockError on a bad value or mixed sizes.
 */
export function readQBlock2Ask(options: readonly CoapOption[], maxPayloads: number, maxNamed: number): QBlock2Ask | undefined {
  const wanted = new Set<number>();
  let sizeExponent: number | undefined;
  let streamFrom: number | undefined;
  for (const option of options) {
    if (option.number !== OptionNumber.QBlock2) continue;
    if (option.value.length > 3) throw new BlockError(`Q-Block2 option of ${option.value.length} bytes, at most 3`);
    const block = decodeBlock(decodeUint(option.value));
    if (sizeExponent !== undefined && block.sizeExponent !== sizeExponent) throw new BlockError('Q-Block2 options with different block sizes');
    sizeExponent = block.sizeExponent;
    let last = block.num;
    if (block.moreBlocks) {
      last = (Math.floor(block.num / maxPayloads) + 1) * maxPayloads - 1;
      if (block.num % maxPayloads === 0) streamFrom ??= block.num;
    }
    for (let num = block.num; num <= Math.min(last, MAX_BLOCK_NUMBER) && wanted.size < maxNamed; num++) wanted.add(num);
  }
  if (sizeExponent === undefined) return undefined;
  return { sizeExponent, blocks: [...wanted].sort((a, b) => a - b), streamFrom };
}

/** The Q-Block2 options naming `blocks` one by one (M unset, §4.4). */
export function qBlock2Options(blocks: readonly number[], sizeExponent: number): CoapOption[] {
  return blocks.map((num) => blockOption(OptionNumber.QBlock2, { num, moreBlocks: false, sizeExponent }));
}

/** What became of one arrived block. */
export type Arrival =
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'outside' }
  /** New; `ready` is what can now go to the sink, in order, from `offset`. */
  | { readonly kind: 'new'; readonly offset: number; readonly ready: readonly Buffer[] };

/**
 * A Q-Block2 download's received bytes, by byte offset so that a change of block size
 * (ours between windows, or the server's smaller one, RFC 7959 §2.4) needs no renumbering.
 * Bytes before `next` went to the sink; later blocks wait in `held` (at most
 * `capacityBytes` past `next`, so the buffer is bounded by the largest window) until the
 * holes before them are filled.
 */
export class QBlock2Receiver {
  next: number;
  /** The body's size, once Size2 or the last block (M unset) said it. */
  end: number | undefined;
  /** Where the blocks asked for so far end. */
  #frontier: number;
  readonly #held = new Map<number, Buffer>();
  readonly #capacityBytes: number;
  /** The block size in use: it grows only where nothing is missing (`switchable`). */
  sizeExponent: number;
  /** The largest size the server sent: it may answer with a smaller one than asked. */
  #serverSizeExponent = MAX_SIZE_EXPONENT;

  constructor(startOffset: number, sizeExponent: number, capacityBytes = MAX_NAMED_BLOCKS * blockSize(MAX_SIZE_EXPONENT)) {
    this.sizeExponent = sizeExponent;
    this.next = Math.floor(startOffset / blockSize(sizeExponent)) * blockSize(sizeExponent);
    this.#frontier = this.next;
    this.#capacityBytes = capacityBytes;
  }

  get heldBytes(): number {
    let bytes = 0;
    for (const data of this.#held.values()) bytes += data.length;
    return bytes;
  }

  get complete(): boolean {
    return this.end !== undefined && this.next >= this.end;
  }

  /** Everything from the start again (the representation changed). */
  restart(): void {
    this.next = 0;
    this.#frontier = 0;
    this.end = undefined;
    this.#held.clear();
  }

  /** The server answered with blocks of this size: never ask for larger ones again. */
  serverSize(sizeExponent: number): void {
    this.#serverSizeExponent = Math.min(this.#serverSizeExponent, sizeExponent);
  }

  /** Records `data` found at `offset`. */
  add(offset: number, data: Buffer): Arrival {
    let start = offset;
    let bytes = data;
    if (start + bytes.length <= this.next) return { kind: 'duplicate' };
    if (start < this.next) {
      bytes = bytes.subarray(this.next - start);
      start = this.next;
    }
    if (start >= this.next + this.#capacityBytes) return { kind: 'outside' };
    const held = this.#held.get(start);
    if (held !== undefined && held.length >= bytes.length) return { kind: 'duplicate' };
    this.#held.set(start, bytes);
    const from = this.next;
    const ready: Buffer[] = [];
    for (let chunk = this.#held.get(this.next); chunk !== undefined; chunk = this.#held.get(this.next)) {
      this.#held.delete(this.next);
      ready.push(chunk);
      this.next += chunk.length;
      this.#dropCovered();
    }
    return { kind: 'new', offset: from, ready };
  }

  /**
   * The blocks to ask for next, at most `window`: first the holes among the blocks asked
   * before, then new ones after them, never past the end nor the capacity, in blocks of
   * `sizeExponent` (or the server's smaller one) when they fit.
   */
  plan(sizeExponent: number, window: number): number[] {
    // Smaller blocks fit anywhere (every boundary so far is a multiple of them); larger ones
    // only where nothing is missing and `next` is a multiple of their size.
    const wanted = Math.min(sizeExponent, this.#serverSizeExponent);
    if (wanted < this.sizeExponent || (wanted > this.sizeExponent && this.switchable && this.next % blockSize(wanted) === 0)) {
      this.sizeExponent = wanted;
    }
    const size = blockSize(this.sizeExponent);
    const limit = Math.min(this.end ?? Infinity, this.next + this.#capacityBytes);
    const blocks: number[] = [];
    const held = [...this.#held.entries()].sort(([a], [b]) => a - b);
    let cursor = this.next;
    const ask = (from: number, to: number): void => {
      if (from >= limit) return;
      for (let num = Math.floor(from / size); num * size < to && num * size < limit && blocks.length < window; num++) {
        if (blocks[blocks.length - 1] !== num) blocks.push(num);
      }
    };
    for (const [offset, data] of held) {
      if (offset > cursor) ask(cursor, Math.min(offset, this.#frontier));
      cursor = Math.max(cursor, offset + data.length);
    }
    if (cursor < this.#frontier) ask(cursor, this.#frontier);
    const fresh = Math.max(this.#frontier, cursor);
    ask(fresh, Infinity);
    if (blocks.length > 0) this.#frontier = Math.max(this.#frontier, Math.min((blocks[blocks.length - 1]! + 1) * size, limit));
    return blocks;
  }

  /** Nothing is missing: all asked for arrived and went to the sink. */
  get switchable(): boolean {
    return this.#held.size === 0 && this.#frontier <= this.next;
  }

  /** Held blocks that `next` overtook (a larger duplicate covered them). */
  #dropCovered(): void {
    for (const [offset, data] of this.#held) {
      if (offset >= this.next) continue;
      this.#held.delete(offset);
      if (offset + data.length > this.next) this.#held.set(this.next, data.subarray(this.next - offset));
    }
  }
}
