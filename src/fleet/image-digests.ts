// The digests a format 2 manifest signs (manifest.ts): the sha256 of the whole image and of
// each chunk_size bytes of it, in one streamed pass (the image is never read whole). The
// agent checks a chunk it holds with chunkDigest, the same definition.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface ImageDigests {
  /** Hex sha256 of the whole image. */
  readonly sha256: string;
  /** Hex sha256 of each chunk in order; the last covers what remains. */
  readonly chunks: string[];
  readonly size: number;
}

export async function imageDigests(path: string, chunkSize: number): Promise<ImageDigests> {
  const whole = createHash('sha256');
  const chunks: string[] = [];
  let chunk = createHash('sha256');
  let inChunk = 0;
  let size = 0;
  for await (const data of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    const bytes = data as Buffer;
    whole.update(bytes);
    size += bytes.length;
    // A read may end inside a chunk or span several.
    for (let at = 0; at < bytes.length;) {
      const take = Math.min(chunkSize - inChunk, bytes.length - at);
      chunk.update(bytes.subarray(at, at + take));
      at += take;
      inChunk += take;
      if (inChunk === chunkSize) {
        chunks.push(chunk.digest('hex'));
        chunk = createHash('sha256');
        inChunk = 0;
      }
    }
  }
  if (inChunk > 0) chunks.push(chunk.digest('hex'));
  return { sha256: whole.digest('hex'), chunks, size };
}

/** Hex sha256 of one chunk's bytes. */
export const chunkDigest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
