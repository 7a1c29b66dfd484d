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
  return { size, read: (offset, length) => readRange(path, size, offset, length) };
}

async function readRange(path: string, size: number, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

const WINDOW_BYTES = 64 * 1024;
const WINDOWS = 32;
const WINDOW_LIFETIME_MS = 2000;

interface Window {
  readonly start: number;
  readonly bytes: Buffer;
  readonly expires: number;
}

/** Read-ahead windows of immutable files, by path, least recently used first. */
const windows = new Map<string, Window>();

/**
 * A file that never changes once written (content-addressed, like the gateway's images):
 * blocks come from a 64 KiB read-ahead window shared by every request for that path, so a
 * download costs one file read per 64 blocks of 1 KiB instead of an open, a read and a
 * close per block (measured: ~120 µs per block). At most 32 windows (2 MiB), each kept 2 s.
 */
export function immutableFileBody(path: string, size: number): BodySource {
  return {
    size,
    read(offset, length) {
      const end = Math.min(size, offset + length);
      const window = windows.get(path);
      if (window !== undefined && window.expires > Date.now() && offset >= window.start && end <= window.start + window.bytes.length) {
        windows.delete(path);
        windows.set(path, window);
        return window.bytes.subarray(offset - window.start, end - window.start);
      }
      return readRange(path, size, offset, Math.max(length, WINDOW_BYTES)).then((bytes) => {
        windows.delete(path);
        windows.set(path, { start: offset, bytes, expires: Date.now() + WINDOW_LIFETIME_MS });
        if (windows.size > WINDOWS) windows.delete(windows.keys().next().value!);
        return bytes.subarray(0, end - offset);
      });
    },
  };
}
