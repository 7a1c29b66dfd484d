// Proving a directory of the agent writable before it is needed, so a read-only mount or
// a wrong path is named as such, not by the errno of whichever step failed first (a
// recursive mkdir under a read-only mount reports ENOENT).

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryNotWritableError } from './errors.js';

const PROBE = '.writable';
const REFUSALS = new Set(['EROFS', 'EACCES', 'EPERM']);

/** Creates `directory` if need be and writes and removes a probe file in it (mode bits
 * alone say nothing to root, nor about a read-only mount). */
export async function ensureWritableDirectory(what: string, directory: string): Promise<void> {
  try {
    await mkdir(directory, { recursive: true }).catch(async (error: unknown) => {
      // The plain mkdir tells a refusal (EROFS, EACCES) where the recursive one says ENOENT.
      const plain = await mkdir(directory).then(() => undefined, (reason: NodeJS.ErrnoException) => reason);
      throw plain !== undefined && REFUSALS.has(plain.code ?? '') ? plain : error;
    });
    const probe = join(directory, PROBE);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === undefined) throw error;
    throw new DirectoryNotWritableError(what, directory, errno, error);
  }
}
