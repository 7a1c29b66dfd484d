// Format 2 downloads (fleet/manifest.ts): each chunk of the partial file is checked against
// its signed sha256 as soon as its last byte is on disk, read back from the file so what is
// vouched for is what is stored. The download (downloader.ts) persists only the length of
// the verified prefix, a whole number of chunks; at a restart the prefix on disk is hashed
// again rather than trusted, nor an ETag (RFC 7959 §2.4's ETag names a representation; the
// signature vouches for its bytes).

import type { FileHandle } from 'node:fs/promises';
import { chunkDigest } from '../fleet/image-digests.js';
import { ChunkMismatchError } from './errors.js';

/** Blocks that arrive ahead of the verified prefix, kept by offset until the gap before them
 * fills (a burst of Q-Block2, RFC 9177 §4.4, may arrive out of order): at most a chunk's
 * worth of the smallest blocks (1 MiB of 16-byte blocks would be more; the client's
 * blocks are never smaller than 16 and bursts are far shorter). */
const MAX_AHEAD = 4096;

export interface Chunking {
  readonly chunkSize: number;
  /** Hex sha256 per chunk, from the verified manifest. */
  readonly chunks: readonly string[];
  readonly size: number;
}

/** The chunks from `verified` on: writes in, verified chunks out. One per transfer. */
export class ChunkVerifier {
  readonly #file: FileHandle;
  readonly #chunking: Chunking;
  readonly #buffer: Buffer;
  /** Bytes from 0 that hashed right; always at a chunk boundary or the image's end. */
  #verified: number;
  /** Bytes from 0 written in one run (verified or not). */
  #contiguous: number;
  /** Writes past `#contiguous`: offset to end. */
  readonly #ahead = new Map<number, number>();

  constructor(file: FileHandle, chunking: Chunking, verified: number) {
    this.#file = file;
    this.#chunking = chunking;
    this.#buffer = Buffer.alloc(chunking.chunkSize);
    this.#verified = verified;
    this.#contiguous = verified;
  }

  get verified(): number {
    return this.#verified;
  }

  /** Notes `length` bytes written at `offset`, then verifies every chunk now complete;
   * throws ChunkMismatchError at the first that does not hash right (the verified length
   * stays at its start, so it is fetched again from there). */
  async written(offset: number, length: number): Promise<void> {
    const end = offset + length;
    if (end <= this.#contiguous) return;
    if (offset > this.#contiguous) {
      if (this.#ahead.size >= MAX_AHEAD) throw new RangeError(`more than ${MAX_AHEAD} blocks ahead of offset ${this.#contiguous}`);
      this.#ahead.set(offset, Math.max(end, this.#ahead.get(offset) ?? 0));
      return;
    }
    this.#contiguous = end;
    for (let joined = true; joined;) {
      joined = false;
      for (const [at, until] of this.#ahead) {
        if (at > this.#contiguous) continue;
        this.#ahead.delete(at);
        this.#contiguous = Math.max(this.#contiguous, until);
        joined = true;
      }
    }
    const { chunkSize, size } = this.#chunking;
    while (this.#verified < size && Math.min(this.#verified + chunkSize, size) <= this.#contiguous) {
      const index = this.#verified / chunkSize;
      if (!(await this.#matches(index))) throw new ChunkMismatchError(index);
      this.#verified = Math.min(this.#verified + chunkSize, size);
    }
  }

  /** Hashes the chunks on disk from 0, up to `onDisk` bytes; the length of the prefix that
   * matches (a chunk boundary, or the image's end). */
  async verifyPrefix(onDisk: number): Promise<number> {
    const { chunkSize, size } = this.#chunking;
    let verified = 0;
    while (verified < size && Math.min(verified + chunkSize, size) <= onDisk && (await this.#matches(verified / chunkSize))) {
      verified = Math.min(verified + chunkSize, size);
    }
    this.#verified = verified;
    this.rewind();
    return verified;
  }

  /** A transfer starts again at the verified length: what was written past it (a chunk
   * that failed, blocks of an image that changed) is written again before it counts. */
  rewind(): void {
    this.#contiguous = this.#verified;
    this.#ahead.clear();
  }

  async #matches(index: number): Promise<boolean> {
    const { chunkSize, size, chunks } = this.#chunking;
    const start = index * chunkSize;
    const length = Math.min(chunkSize, size - start);
    for (let done = 0; done < length;) {
      const { bytesRead } = await this.#file.read(this.#buffer, done, length - done, start + done);
      if (bytesRead === 0) return false;
      done += bytesRead;
    }
    return chunkDigest(this.#buffer.subarray(0, length)) === chunks[index];
  }
}
