// Representations served block by block (RFC 7959 §2.2): a random-access source of known
// size, backed by a Buffer or by a file that is never read whole into memory.

import { open } from 'node:fs/promises';

export interface BodySource {
  readonly size: number;
  /** Up to `length` bytes from `offset`; short only at the end. */
  read(offset: number, length: number): Buffer | Promise<Buffer>;
}

export function bufferBody(buffer: Buffer): BodySource {
  return { size: buffer.length, read: (offset, length) => buffer.subarray(offset, offset + length) };
}

/** A file of known size, read one block at a time; each read opens and closes the file so
 * no descriptor outlives a request, and a file replaced by rename is seen at once. */
export function fileBody(path: string, size: number): BodySource {
  return {
    size,
    async read(offset, length) {
      const handle = await open(path, 'r');
      try {
        const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
  };
}
