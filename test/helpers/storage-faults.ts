// Storage faults for the end-to-end tests, on real files: a data.mdb cut short or
// overwritten with (seeded) random bytes, a real LMDB store filled through our own store
// modules so a fault hits pages the daemon reads, and a small disk (a tmpfs mount) that
// can be filled to a real ENOSPC and freed again.

import { execFileSync } from 'node:child_process';
import { open, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { SeededRandom } from '../../src/protocol/seeded-random.js';

export const dataFile = (stateDir: string): string => join(stateDir, 'data.mdb');

/** Cuts data.mdb to half its size. */
export async function truncateToHalf(stateDir: string): Promise<void> {
  const { size } = await stat(dataFile(stateDir));
  await truncate(dataFile(stateDir), Math.floor(size / 2));
}

/** Overwrites `length` bytes of data.mdb from `offset` with random bytes of `seed`. */
export async function overwrite(stateDir: string, offset: number, length: number, seed: number): Promise<void> {
  const bytes = new SeededRandom(seed).bytes(length);
  const handle = await open(dataFile(stateDir), 'r+');
  try {
    await handle.write(bytes, 0, length, offset);
  } finally {
    await handle.close();
  }
}

/** The ways a data.mdb is damaged in the tests, each applied to a fresh copy. */
export const DAMAGES: readonly { readonly name: string; apply(stateDir: string): Promise<void> }[] = [
  { name: 'truncated to half', apply: truncateToHalf },
  // Both meta pages' headers (LMDB pages 0 and 1 of 4096 bytes).
  { name: 'header overwritten', apply: async (dir) => { await overwrite(dir, 16, 200, 1); await overwrite(dir, 4096 + 16, 200, 2); } },
  // Pages 2.. of the file's middle half: the B-tree pages of the records.
  {
    name: 'middle overwritten',
    apply: async (dir) => {
      const { size } = await stat(dataFile(dir));
      await overwrite(dir, Math.floor(size / 4), Math.floor(size / 2), 3);
    },
  },
];

/** A tmpfs of `sizeMiB` mounted on `directory` (which must exist and be empty), or the
 * reason it cannot be (not root, no mount permission in this sandbox). */
export class SmallDisk {
  readonly directory: string;
  readonly #filler: string;

  private constructor(directory: string) {
    this.directory = directory;
    this.#filler = join(directory, 'filler');
  }

  static mount(directory: string, sizeMiB: number): SmallDisk | string {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', directory], { stdio: 'pipe' });
      return new SmallDisk(directory);
    } catch (error) {
      return `cannot mount a tmpfs on ${directory}: ${((error as { stderr?: Buffer }).stderr?.toString() ?? (error as Error).message).trim()}`;
    }
  }

  /** Writes a filler file until the disk is full but for `leaveBytes` (about: 4 KiB pages). */
  async fill(leaveBytes = 0): Promise<void> {
    const handle = await open(this.#filler, 'a');
    const chunk = Buffer.alloc(64 * 1024, 0xa5);
    try {
      // Bounded: a tmpfs of a few MiB takes a few hundred chunks.
      for (let round = 0; round < 100_000; round++) {
        const free = this.freeBytes() - leaveBytes;
        if (free <= 0) return;
        try {
          await handle.write(chunk, 0, Math.min(chunk.length, free));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
          throw error;
        }
      }
      throw new Error('the disk did not fill');
    } finally {
      await handle.close();
    }
  }

  /** Removes the filler: the space is back. */
  async free(): Promise<void> {
    await rm(this.#filler, { force: true });
  }

  freeBytes(): number {
    const output = execFileSync('df', ['-B1', '--output=avail', this.directory], { encoding: 'utf8' });
    return Number(output.trim().split('\n').pop());
  }

  /** Lazily, so a daemon that still holds a file does not keep it mounted. */
  unmount(): void {
    execFileSync('umount', ['-l', this.directory], { stdio: 'pipe' });
  }
}

/** How a process ended, or a failure after `timeoutMs`. */
export async function exitWithin<T>(exited: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still running after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
