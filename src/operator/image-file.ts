// A file of random bytes with its sha256 (the demo's image, and the end-to-end tests').

import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';

export interface Image {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** A file of `size` random bytes, written in 64 KiB pieces. */
export async function writeRandomImage(path: string, size: number): Promise<Image> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let offset = 0; offset < size; offset += 65536) {
    const chunk = randomBytes(Math.min(65536, size - offset));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { path, size, sha256: hash.digest('hex') };
}
