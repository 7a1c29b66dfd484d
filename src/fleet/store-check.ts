// The check both daemons run on their LMDB environment before they open it (DESIGN §7):
// LMDB maps data.mdb into memory and trusts it, so a truncated or overwritten file kills
// the process with SIGBUS or SIGSEGV on first touch, printing nothing. First the two meta
// pages are read with plain file I/O (LMDB's format, mdb.c MDB_meta: magic 0xBEEFC0DE,
// data version, page size, root pages within the file); then, since no header can vouch
// for the pages behind it, a child process opens the store read-only and reads every
// record (store-check-child.ts): a bad page kills the child, not the daemon.

import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreCorruptError } from './errors.js';

export interface StoreCheckOptions {
  /** Named databases to read besides the main one (the gateway's; the agent has none).
   * Each must exist: the daemon creates them all at its first open. */
  readonly databases: readonly string[];
  /** Those of `databases` that a store written by an earlier release may lack (its daemon
   * creates them at the first open): read when present. */
  readonly added?: readonly string[];
  /** Bound on the child's full read; a cycle of damaged pages could loop forever. */
  readonly timeoutMs?: number;
}

/** `absent`: no data.mdb (or an empty one, which LMDB initialises): a fresh state. */
export type StoreCheck = 'absent' | 'sound';

const DEFAULT_TIMEOUT_MS = 120_000;
const STDERR_LIMIT = 2048;

// ---- the meta pages (LMDB's on-disk format as lmdb-js 3 builds it; little-endian) -------

const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
/** Page header: pgno u64, txnid u64, pad u16, flags u16, lower/upper u16+u16. */
const PAGE_HEADER_SIZE = 24;
const P_META = 0x08;
const PAGE_FLAGS_OFFSET = 18;
// MDB_meta after the page header: magic u32, version u32, address u64, mapsize u64, then
// two MDB_db of 48 bytes (free pages, main) whose first field of the first is the page
// size, then the last page number and the transaction id.
const META = {
  magic: 0, version: 4, pageSize: 24, freeRoot: 24 + 40, mainRoot: 24 + 48 + 40, lastPage: 24 + 96, txnId: 24 + 104,
} as const;
const META_BYTES = PAGE_HEADER_SIZE + META.txnId + 8;
const P_INVALID = 0xffff_ffff_ffff_ffffn;
const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 65_536;

interface Meta {
  readonly pageSize: number;
  readonly roots: readonly bigint[];
  readonly lastPage: bigint;
  readonly txnId: bigint;
}

/** One meta page, or why it is not one. */
function parseMeta(page: Buffer): Meta | string {
  if (page.length < META_BYTES) return 'the file ends inside a meta page';
  if ((page.readUInt16LE(PAGE_FLAGS_OFFSET) & P_META) === 0) return 'not a meta page';
  const meta = PAGE_HEADER_SIZE;
  const magic = page.readUInt32LE(meta + META.magic);
  if (magic !== MDB_MAGIC) return `magic 0x${magic.toString(16)}, not LMDB's 0x${MDB_MAGIC.toString(16)}`;
  const version = page.readUInt32LE(meta + META.version) & 0xffff;
  if (version !== MDB_DATA_VERSION) return `data format version ${version}, not ${MDB_DATA_VERSION}`;
  const pageSize = page.readUInt32LE(meta + META.pageSize);
  if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) return `page size ${pageSize}`;
  return {
    pageSize,
    roots: [page.readBigUInt64LE(meta + META.freeRoot), page.readBigUInt64LE(meta + META.mainRoot)],
    lastPage: page.readBigUInt64LE(meta + META.lastPage),
    txnId: page.readBigUInt64LE(meta + META.txnId),
  };
}

/** What the header of a data.mdb of `fileSize` bytes says: a reason it is damaged, or
 * undefined when nothing in it is wrong (the pages behind it may still be). */
function headerProblem(read: (offset: number) => Buffer, fileSize: number): string | undefined {
  const first = parseMeta(read(0));
  if (typeof first === 'string') return `meta page 0: ${first}`;
  const { pageSize } = first;
  const pages = Math.floor(fileSize / pageSize);
  if (pages < 2) return `${fileSize} bytes, shorter than LMDB's two meta pages of ${pageSize} bytes`;
  const second = parseMeta(read(pageSize));
  if (typeof second === 'string') return `meta page 1: ${second}`;
  if (second.pageSize !== pageSize) return `meta pages disagree on the page size (${pageSize}, ${second.pageSize})`;
  const newest = second.txnId > first.txnId ? second : first;
  // A root page is written before the meta that names it: one past the end of the file
  // means the file lost its tail. (The last page number alone proves nothing: LMDB may
  // record pages it freed again before writing them.)
  for (const root of newest.roots) {
    if (root !== P_INVALID && root >= BigInt(pages)) return `a root page (${root}) lies past the end of the file (${pages} pages): truncated`;
  }
  return undefined;
}

/** Reads page 0's meta, then page 1's once the page size is known. */
async function readHeader(path: string, fileSize: number): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const pages = new Map<number, Buffer>();
    const readAt = async (offset: number): Promise<void> => {
      const bytes = Buffer.alloc(Math.max(0, Math.min(META_BYTES, fileSize - offset)));
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, offset);
      pages.set(offset, bytes.subarray(0, bytesRead));
    };
    await readAt(0);
    const first = parseMeta(pages.get(0)!);
    if (typeof first !== 'string' && first.pageSize < fileSize) await readAt(first.pageSize);
    return headerProblem((offset) => pages.get(offset) ?? Buffer.alloc(0), fileSize);
  } finally {
    await handle.close();
  }
}

// ---- the full read, in a child process ----------------------------------------------------

const CHILD = fileURLToPath(new URL('./store-check-child.js', import.meta.url));

/** Runs the child's full read; resolves with a reason when it failed. */
function readAllInChild(directory: string, databases: readonly string[], added: readonly string[], timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, directory, JSON.stringify(databases), JSON.stringify(added)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { if (stderr.length < STDERR_LIMIT) stderr += chunk; });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve(`reading every record did not finish within ${Math.round(timeoutMs / 1000)} s`);
      else if (signal !== null) resolve(`reading its records killed the checking process with ${signal}: pages are missing or overwritten`);
      else if (code !== 0) resolve(`reading its records failed: ${stderr.trim().split('\n')[0] ?? `exit status ${code}`}`);
      else resolve(undefined);
    });
  });
}

/** Checks the LMDB environment in `directory`; throws StoreCorruptError when it is damaged. */
export async function checkStore(directory: string, options: StoreCheckOptions): Promise<StoreCheck> {
  const path = join(directory, 'data.mdb');
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  if (size === 0) return 'absent';
  const header = await readHeader(path, size);
  if (header !== undefined) throw new StoreCorruptError(directory, header);
  const reading = await readAllInChild(directory, options.databases, options.added ?? [], options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (reading !== undefined) throw new StoreCorruptError(directory, reading);
  return 'sound';
}
