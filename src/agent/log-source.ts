// Where GET /logs reads (DESIGN §5): the journal (journald-source.ts) or the tails of the
// configured files (file-log-source.ts), behind one interface: the last entries matching
// a query, and for a follow (Observe) the entries after a cursor the previous read
// returned. The bounds every source and the resource share live here.

import type { LogEntry } from '../fleet/node-views.js';
import type { AgentConfig } from './config.js';
import { FileLogSource } from './file-log-source.js';
import { JournaldSource } from './journald-source.js';

export const DEFAULT_LOG_LINES = 100;
export const MAX_LOG_LINES = 1000;
/** The largest GET /logs answer (JSON), sent block-wise; past it the oldest entries go
 * and the answer says `truncated`. */
export const MAX_LOG_RESPONSE_BYTES = 256 * 1024;
/** A longer message is cut: one entry is not the whole answer. */
export const MAX_MESSAGE_CHARS = 4096;

export interface LogQuery {
  /** A systemd unit, or a log file's base name. */
  readonly unit?: string;
  /** Entries at or after this instant (epoch milliseconds). */
  readonly sinceMs?: number;
  /** syslog priority: this one and the more urgent (lower) ones. */
  readonly priority?: number;
  /** At most this many, the newest. */
  readonly lines: number;
}

export interface LogRead<C> {
  /** Oldest first. */
  readonly entries: LogEntry[];
  /** More matched than the bounds let through. */
  readonly truncated: boolean;
  /** Where a follow goes on from: after the last entry read. */
  readonly cursor: C;
}

export interface LogSource<C = unknown> {
  /** The newest `query.lines` matching entries. Throws LogSourceError. */
  read(query: LogQuery): Promise<LogRead<C>>;
  /** The matching entries after `cursor` (at most MAX_LOG_LINES, the newest); `since` is
   * not applied. Throws LogSourceError. */
  readAfter(query: LogQuery, cursor: C): Promise<LogRead<C>>;
}

export function createLogSource(config: Pick<AgentConfig, 'logSource' | 'logFiles'>): LogSource {
  switch (config.logSource) {
    case 'journald': return new JournaldSource();
    case 'files': return new FileLogSource(config.logFiles);
  }
}

/** The newest entries whose JSON fits in `maxBytes`, oldest first, and whether any had
 * to go. */
export function boundEntries(entries: readonly LogEntry[], maxBytes: number): { entries: LogEntry[]; truncated: boolean } {
  let bytes = 0;
  let first = entries.length;
  while (first > 0) {
    // The entry's JSON and its comma.
    const size = Buffer.byteLength(JSON.stringify(entries[first - 1])) + 1;
    if (bytes + size > maxBytes) break;
    bytes += size;
    first--;
  }
  return { entries: entries.slice(first), truncated: first > 0 };
}
