// The representations the block-wise benchmark downloads: 1 MiB and 16 MiB of random but
// deterministic bytes (AES-128-CTR over zeros, keyed by a fixed seed), written to files in
// a temporary directory that the server children serve or load, and checked by SHA-256.

import { createCipheriv, createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Blob {
  /** `1mib`, `16mib`: the metric suffix, and the file name in the blob directory. */
  readonly name: string;
  readonly size: number;
  /** Uri-Path of the resource on every server. */
  readonly path: string;
}

const MIB = 1024 * 1024;

export const BLOBS: readonly Blob[] = [
  { name: '1mib', size: MIB, path: 'blob-1mib' },
  { name: '16mib', size: 16 * MIB, path: 'blob-16mib' },
];

export const blobFile = (directory: string, blob: Blob): string => join(directory, `${blob.name}.bin`);

/** `size` bytes of AES-128-CTR keystream: fast, incompressible, the same in every run. */
export function deterministicBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export interface BlobDirectory {
  readonly directory: string;
  /** SHA-256 (hex) of each blob, by name. */
  readonly digests: ReadonlyMap<string, string>;
  remove(): void;
}

/** Writes every blob to a fresh temporary directory; `remove()` deletes it. */
export function writeBlobs(): BlobDirectory {
  const directory = mkdtempSync(join(tmpdir(), 'coap-fleet-blockwise-'));
  const digests = new Map<string, string>();
  for (const blob of BLOBS) {
    const bytes = deterministicBytes(blob.size, `coap-fleet blockwise ${blob.name}`);
    writeFileSync(blobFile(directory, blob), bytes);
    digests.set(blob.name, sha256(bytes));
  }
  return { directory, digests, remove: () => rmSync(directory, { recursive: true, force: true }) };
}
