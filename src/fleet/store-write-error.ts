// A write that the disk refused, as both daemons report it (DESIGN §7: a full disk gives
// 5.03 with a diagnostic and the daemon keeps running): the LMDB state store (lmdb-js
// rejects a failed commit with "Commit failed" and the cause in the promise
// `commitError`) and plain files (an upload's temporary file) alike.

import { statfs } from 'node:fs/promises';
import { StoreWriteError } from './errors.js';

/** Errors that mean the disk (or the quota, or LMDB's map) is full: errno names from
 * Node's fs, errno numbers from LMDB (Linux: ENOSPC 28, EDQUOT 122; MDB_MAP_FULL -30792). */
const NO_SPACE = new Set<unknown>(['ENOSPC', 'EDQUOT', 28, 122, -30792]);
const EIO = 5;
/** LMDB reports a short write as EIO ("short write, filesystem full?", mdb.c): a disk with
 * less than this free is taken to be full. */
const NEARLY_FULL_BYTES = 1024 * 1024;

function errnoOf(error: unknown): string | number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' || typeof code === 'number' ? code : undefined;
}

async function freeBytes(directory: string): Promise<number | undefined> {
  try {
    const stats = await statfs(directory);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/** The StoreWriteError `error` amounts to, or undefined when it is not the disk's doing
 * (an action that threw, a closed store). Awaiting lmdb-js's `commitError` here also
 * keeps it from becoming an unhandled rejection. */
export async function storeWriteError(error: unknown, directory: string): Promise<StoreWriteError | undefined> {
  let cause = error;
  const commitError = (error as { commitError?: unknown } | null)?.commitError;
  if (commitError instanceof Promise) cause = await commitError.then(() => error, (rejection: unknown) => rejection);
  const errno = errnoOf(cause);
  const fromSystem = typeof errno === 'number' || (typeof errno === 'string' && /^E[A-Z]+$/.test(errno));
  if (!fromSystem && !(commitError instanceof Promise)) return undefined;
  const reason = errno === undefined ? (cause as Error).message : String(errno);
  let noSpace = NO_SPACE.has(errno);
  if (!noSpace && (errno === EIO || errno === 'EIO')) noSpace = ((await freeBytes(directory)) ?? Infinity) < NEARLY_FULL_BYTES;
  return new StoreWriteError(directory, noSpace, reason, { cause });
}
