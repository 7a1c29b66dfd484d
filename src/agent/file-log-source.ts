// Configured log files as a LogSource (log_source "files", for nodes without journald):
// the last lines of each file, read from its end with a byte bound, never the whole file;
// a follow reads what was appended since the previous read (a file that shrank or was
// replaced, i.e. rotated, is read from its start). An entry's unit is the file's base
// name; its priority 6 unless the line starts with a `<N>` prefix (sd-daemon(3)); its
// time a leading RFC 3339 timestamp, else the file's modification time (a tail) or the
// time it was read (a follow).

import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { LogEntry } from '../fleet/node-views.js';
import { LogSourceError } from './errors.js';
import { MAX_LOG_LINES, MAX_MESSAGE_CHARS, type LogQuery, type LogRead, type LogSource } from './log-source.js';

/** How far back from a file's end a tail reads, and how much a follow reads at once. */
const DEFAULT_MAX_READ_BYTES = 512 * 1024;
const CHUNK_BYTES = 64 * 1024;
const LEADING_TIME = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2}))\s+/;
const PRIORITY_PREFIX = /^<([0-7])>/;

/** Where a follow goes on in each file: the byte after the last whole line read, and
 * the inode, to notice a replacement. */
export type FilePositions = ReadonlyMap<string, { readonly offset: number; readonly inode: number }>;

export interface FileLogOptions {
  readonly maxReadBytes?: number;
  /** The node's wall clock, for followed lines without a timestamp. */
  readonly wallTime?: () => number;
}

export class FileLogSource implements LogSource<FilePositions> {
  readonly #files: readonly string[];
  readonly #maxReadBytes: number;
  readonly #wallTime: () => number;

  constructor(files: readonly string[], options: FileLogOptions = {}) {
    this.#files = files;
    this.#maxReadBytes = options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES;
    this.#wallTime = options.wallTime ?? Date.now;
  }

  async read(query: LogQuery): Promise<LogRead<FilePositions>> {
    const positions = new Map<string, { offset: number; inode: number }>();
    const entries: LogEntry[] = [];
    let truncated = false;
    for (const file of this.#selected(query)) {
      const tail = await readTail(file, query.lines, this.#maxReadBytes);
      if (tail === undefined) continue;
      positions.set(file, { offset: tail.end, inode: tail.inode });
      const unit = basename(file);
      const matching = tail.lines.map((line) => parseLogLine(line, unit, tail.mtimeMs)).filter((entry) => matches(entry, query));
      truncated ||= tail.cut || matching.length > query.lines;
      entries.push(...matching.slice(-query.lines));
    }
    return { ...newest(entries, query.lines), truncated: truncated || entries.length > query.lines, cursor: positions };
  }

  async readAfter(query: LogQuery, cursor: FilePositions): Promise<LogRead<FilePositions>> {
    const positions = new Map(cursor);
    const entries: LogEntry[] = [];
    let truncated = false;
    for (const file of this.#selected(query)) {
      const appended = await readAppended(file, cursor.get(file), this.#maxReadBytes);
      if (appended === undefined) continue;
      positions.set(file, { offset: appended.end, inode: appended.inode });
      truncated ||= appended.cut;
      const unit = basename(file);
      const readAt = this.#wallTime();
      entries.push(...appended.lines.map((line) => parseLogLine(line, unit, readAt)).filter((entry) => matches(entry, { ...query, sinceMs: undefined })));
    }
    const bounded = newest(entries, MAX_LOG_LINES);
    return { entries: bounded.entries, truncated: truncated || bounded.truncated, cursor: positions };
  }

  /** The files a query reads: the one whose base name is its unit, or all. */
  #selected(query: LogQuery): readonly string[] {
    return query.unit === undefined ? this.#files : this.#files.filter((file) => basename(file) === query.unit);
  }
}

interface Chunk {
  /** Whole lines, oldest first. */
  readonly lines: string[];
  /** The byte after the last whole line. */
  readonly end: number;
  readonly inode: number;
  readonly mtimeMs: number;
  /** Lines were left out: the bound was reached before the start (tail) or the end (follow). */
  readonly cut: boolean;
}

/** The last `lines` whole lines of `file`, read backwards a chunk at a time, no further
 * than `maxBytes` from the end; undefined when the file is not there. */
async function readTail(file: string, lines: number, maxBytes: number): Promise<Chunk | undefined> {
  const handle = await openLog(file);
  if (handle === undefined) return undefined;
  try {
    const stats = await handle.stat();
    // Only whole lines: a line being written is read by the follow once it ends.
    let end = stats.size;
    let start = end;
    let text = Buffer.alloc(0);
    let newlines = 0;
    while (start > 0 && end - start < maxBytes && newlines <= lines) {
      const from = Math.max(0, start - CHUNK_BYTES, end - maxBytes);
      const chunk = Buffer.alloc(start - from);
      await readFully(handle, chunk, from);
      text = Buffer.concat([chunk, text]);
      start = from;
      newlines = countNewlines(text);
    }
    const lastNewline = text.lastIndexOf(0x0a);
    end = start + lastNewline + 1;
    const whole = lastNewline < 0 ? [] : text.subarray(0, lastNewline).toString('utf8').split('\n');
    // The first line is whole only when the read began at the file's start.
    const usable = start === 0 ? whole : whole.slice(1);
    return {
      lines: usable.slice(-lines), end, inode: stats.ino, mtimeMs: stats.mtimeMs,
      cut: start > 0 || usable.length > lines,
    };
  } finally {
    await handle.close();
  }
}

/** The whole lines appended to `file` since `previous`, at most the last `maxBytes`. */
async function readAppended(file: string, previous: { offset: number; inode: number } | undefined, maxBytes: number): Promise<Chunk | undefined> {
  const handle = await openLog(file);
  if (handle === undefined) return undefined;
  try {
    const stats = await handle.stat();
    const replaced = previous === undefined || previous.inode !== stats.ino || stats.size < previous.offset;
    const from = replaced ? 0 : previous.offset;
    const start = Math.max(from, stats.size - maxBytes);
    const buffer = Buffer.alloc(stats.size - start);
    await readFully(handle, buffer, start);
    const lastNewline = buffer.lastIndexOf(0x0a);
    if (lastNewline < 0) return { lines: [], end: start, inode: stats.ino, mtimeMs: stats.mtimeMs, cut: start > from };
    const whole = buffer.subarray(0, lastNewline).toString('utf8').split('\n');
    // Past the bound the read began mid-line: that line's start is lost.
    return {
      lines: start > from ? whole.slice(1) : whole, end: start + lastNewline + 1, inode: stats.ino, mtimeMs: stats.mtimeMs, cut: start > from,
    };
  } finally {
    await handle.close();
  }
}

async function openLog(file: string): Promise<Awaited<ReturnType<typeof open>> | undefined> {
  try {
    return await open(file, 'r');
  } catch (error) {
    // A file not there yet (or rotated away this instant) has no lines; anything else is
    // worth an answer that says so.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LogSourceError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function readFully(handle: Awaited<ReturnType<typeof open>>, buffer: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buffer.length;) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw new LogSourceError('log file shrank while being read');
    done += bytesRead;
  }
}

const countNewlines = (buffer: Buffer): number => {
  let count = 0;
  for (let index = buffer.indexOf(0x0a); index >= 0; index = buffer.indexOf(0x0a, index + 1)) count++;
  return count;
};

const matches = (entry: LogEntry, query: LogQuery): boolean => (query.priority === undefined || entry.priority <= query.priority)
  && (query.sinceMs === undefined || Date.parse(entry.at) >= query.sinceMs);

/** The newest `lines` entries by time (a stable sort keeps each file's order), oldest first. */
function newest(entries: readonly LogEntry[], lines: number): { entries: LogEntry[]; truncated: boolean } {
  const sorted = entries.map((entry, index) => ({ entry, index, at: Date.parse(entry.at) }))
    .sort((a, b) => a.at - b.at || a.index - b.index).map(({ entry }) => entry);
  return { entries: sorted.slice(-lines), truncated: sorted.length > lines };
}

/** One line of a log file as an entry: its `<N>` priority prefix and a leading RFC 3339
 * time are taken out of the message when present. */
export function parseLogLine(line: string, unit: string, fallbackMs: number): LogEntry {
  let message = line.replace(/\r$/, '');
  let priority = 6;
  let atMs = fallbackMs;
  const time = LEADING_TIME.exec(message);
  if (time !== null) {
    const parsed = Date.parse(time[1]!.replace(' ', 'T'));
    if (!Number.isNaN(parsed)) {
      atMs = parsed;
      message = message.slice(time[0].length);
    }
  }
  const prefix = PRIORITY_PREFIX.exec(message);
  if (prefix !== null) {
    priority = Number(prefix[1]);
    message = message.slice(prefix[0].length);
  }
  return { at: new Date(atMs).toISOString(), unit, priority, message: message.slice(0, MAX_MESSAGE_CHARS) };
}
