// The directory A/B slot scheme (DESIGN §8) under <data>/slots: `a/` and `b/`, each an
// image.bin and a version file, and `current`, a symlink to the slot the device runs. A
// slot is written whole and fsynced before anything points at it; the switch is one
// rename(2) of a fresh symlink over `current`, atomic on POSIX filesystems, and the
// directory is fsynced after it so the switch itself survives a power cut. A directory
// that cannot be written is named as such (DirectoryNotWritableError), at start and when
// a write fails, rather than by the errno of whichever step failed first.

import { copyFile, mkdir, open, readFile, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Slot, SlotImage } from './interfaces.js';
import { ensureWritableDirectory } from './writable-directory.js';

const IMAGE = 'image.bin';
const VERSION = 'version';
const CURRENT = 'current';

export const otherSlot = (slot: Slot | null): Slot => (slot === 'a' ? 'b' : 'a');

export class SlotDirectory {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Creates the directory if need be; DirectoryNotWritableError when it cannot be written. */
  async init(): Promise<void> {
    await ensureWritableDirectory('slot', this.root);
  }

  slotPath(slot: Slot): string {
    return join(this.root, slot);
  }

  imagePath(slot: Slot): string {
    return join(this.root, slot, IMAGE);
  }

  /** Paths through `current`: what a health check of "the running version" looks at. */
  get currentPath(): string {
    return join(this.root, CURRENT);
  }

  image(slot: Slot, version: string, updateId: string | undefined): SlotImage {
    return { slot, slotPath: this.slotPath(slot), imagePath: this.imagePath(slot), version, updateId };
  }

  /** The slot `current` points to; null when there is none yet. */
  async active(): Promise<Slot | null> {
    try {
      const target = await readlink(this.currentPath);
      return target === 'a' || target === 'b' ? target : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async version(slot: Slot): Promise<string | undefined> {
    return readFile(join(this.root, slot, VERSION), 'utf8').then((text) => text.trim(), () => undefined);
  }

  /** Fills `slot` with a copy of `source` and `version`, all fsynced; the slot's old
   * contents are gone first, so a half-written slot never carries a version file. */
  async write(slot: Slot, source: string, version: string): Promise<void> {
    await this.#writing(() => this.#write(slot, source, version));
  }

  async #write(slot: Slot, source: string, version: string): Promise<void> {
    const directory = this.slotPath(slot);
    await rm(directory, { recursive: true, force: true });
    await mkdir(directory, { recursive: true });
    // copyFile uses copy_file_range/sendfile: the kernel moves the bytes, not our heap.
    await copyFile(source, join(directory, IMAGE));
    await syncFile(join(directory, IMAGE));
    const versionTemp = join(directory, `${VERSION}.tmp`);
    await writeFile(versionTemp, `${version}\n`);
    await syncFile(versionTemp);
    await rename(versionTemp, join(directory, VERSION));
    await syncFile(directory);
    await syncFile(this.root);
  }

  /** Points `current` at `slot` (null: removes it) atomically; idempotent. */
  async switchTo(slot: Slot | null): Promise<void> {
    if ((await this.active()) === slot) return;
    await this.#writing(() => this.#switchTo(slot));
  }

  async #switchTo(slot: Slot | null): Promise<void> {
    if (slot === null) {
      await unlink(this.currentPath).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    } else {
      const temporary = join(this.root, `${CURRENT}.tmp`);
      await rm(temporary, { force: true });
      // Relative, so the slots directory can move (a chroot, another mount point).
      await symlink(slot, temporary);
      await rename(temporary, this.currentPath);
    }
    await syncFile(this.root);
  }

  /** Runs a write step; when it fails because the directory cannot be written, says so. */
  async #writing(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      await this.init();
      throw error;
    }
  }
}

/** fsync of a file or a directory (a directory's entries: creations and renames). */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
