// The journal as a LogSource: `journalctl -o json` (one JSON object per line,
// systemd.journal-fields(7)) with the query as its filters, bounded in time and output.
// A follow goes on with --after-cursor from the last entry's __CURSOR, or, when there was
// none yet, from the instant the follow began.

import type { LogEntry } from '../fleet/node-views.js';
import { LogSourceError } from './errors.js';
import { MAX_LOG_LINES, MAX_MESSAGE_CHARS, type LogQuery, type LogRead, type LogSource } from './log-source.js';
import { describeProgramFailure, runProgram, type ProgramResult } from './run-program.js';

export interface JournalCursor {
  /** __CURSOR of the last entry read, when there was one. */
  readonly after: string | undefined;
  /** Else: entries from this instant on (epoch milliseconds). */
  readonly sinceMs: number;
}

export interface JournaldOptions {
  /** The journalctl to run (the one on PATH by default). */
  readonly program?: string;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  /** The node's wall clock, for a follow that begins with no entry. */
  readonly wallTime?: () => number;
}

/** The fields asked for (systemd 236+): the rest of an entry is a multiple of its size. */
const OUTPUT_FIELDS = '__REALTIME_TIMESTAMP,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,PRIORITY,MESSAGE';
const DEFAULT_TIMEOUT_MS = 5000;
/** MAX_LOG_LINES entries of a few hundred bytes each, with room for long messages. */
const DEFAULT_MAX_OUTPUT_BYTES = 2 * 1024 * 1024;

export class JournaldSource implements LogSource<JournalCursor> {
  readonly #program: string;
  readonly #timeoutMs: number;
  readonly #maxOutputBytes: number;
  readonly #wallTime: () => number;

  constructor(options: JournaldOptions = {}) {
    this.#program = options.program ?? 'journalctl';
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.#wallTime = options.wallTime ?? Date.now;
  }

  async read(query: LogQuery): Promise<LogRead<JournalCursor>> {
    const began = this.#wallTime();
    const since = query.sinceMs === undefined ? [] : ['--since', `@${Math.floor(query.sinceMs / 1000)}`];
    const read = await this.#run([...filterArguments(query), ...since, '-n', String(query.lines)], query.lines, { after: undefined, sinceMs: began });
    // --since takes whole seconds: the entries of the same second before the instant go.
    const sinceMs = query.sinceMs;
    return sinceMs === undefined ? read : { ...read, entries: read.entries.filter((entry) => Date.parse(entry.at) >= sinceMs) };
  }

  readAfter(query: LogQuery, cursor: JournalCursor): Promise<LogRead<JournalCursor>> {
    const from = cursor.after === undefined ? ['--since', `@${Math.floor(cursor.sinceMs / 1000)}`] : ['--after-cursor', cursor.after];
    return this.#run([...filterArguments(query), ...from, '-n', String(MAX_LOG_LINES)], MAX_LOG_LINES, cursor);
  }

  async #run(args: readonly string[], lines: number, previous: JournalCursor): Promise<LogRead<JournalCursor>> {
    const result: ProgramResult = await runProgram(this.#program, ['-o', 'json', '--no-pager', '-q', `--output-fields=${OUTPUT_FIELDS}`, ...args], {
      timeoutMs: this.#timeoutMs, maxOutputBytes: this.#maxOutputBytes,
    });
    // Past the output bound the program was stopped on purpose: what came is good.
    if (!result.overflowed && (result.exitCode !== 0 || result.timedOut)) {
      throw new LogSourceError(describeProgramFailure('journalctl', result, this.#timeoutMs));
    }
    const text = result.stdout.toString('utf8');
    // A bounded output ends in the middle of a line: only whole lines count.
    const complete = result.overflowed ? text.slice(0, text.lastIndexOf('\n') + 1) : text;
    const entries: LogEntry[] = [];
    let after = previous.after;
    for (const line of complete.split('\n')) {
      const parsed = parseJournalLine(line);
      if (parsed === undefined) continue;
      entries.push(parsed.entry);
      after = parsed.cursor ?? after;
    }
    return { entries, truncated: result.overflowed || entries.length >= lines, cursor: { after, sinceMs: previous.sinceMs } };
  }
}

/** The query's unit and priority as journalctl options; a value is never read as an
 * option of its own (`-u` takes the next argument whatever it starts with). */
function filterArguments(query: LogQuery): string[] {
  return [
    ...(query.unit === undefined ? [] : ['-u', query.unit]),
    ...(query.priority === undefined ? [] : ['-p', String(query.priority)]),
  ];
}

/** One line of `journalctl -o json` as a log entry and its cursor; undefined for a line
 * that is not a JSON object (an empty line, a cut one). A field missing gets its default:
 * no unit, priority 6 (info), the epoch when the time is unknown. */
export function parseJournalLine(line: string): { entry: LogEntry; cursor: string | undefined } | undefined {
  if (line.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  const micros = fieldText(fields.__REALTIME_TIMESTAMP);
  const ms = micros !== undefined && /^\d{1,19}$/.test(micros) ? Number(BigInt(micros) / 1000n) : 0;
  const priority = Number(fieldText(fields.PRIORITY));
  return {
    entry: {
      at: new Date(Number.isFinite(ms) && ms < 8.64e15 ? ms : 0).toISOString(),
      unit: fieldText(fields._SYSTEMD_UNIT) ?? fieldText(fields.SYSLOG_IDENTIFIER) ?? null,
      priority: Number.isInteger(priority) && priority >= 0 && priority <= 7 ? priority : 6,
      message: (fieldText(fields.MESSAGE) ?? '').slice(0, MAX_MESSAGE_CHARS),
    },
    cursor: fieldText(fields.__CURSOR),
  };
}

/** A journal field as text (journalctl(1) on -o json): a string; an array of bytes when
 * the value is not valid UTF-8 or holds control characters; an array of values when the
 * field occurs more than once (the first taken); null when larger than journalctl shows. */
function fieldText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((byte) => typeof byte === 'number' && Number.isInteger(byte) && byte >= 0 && byte <= 255)) {
      return Buffer.from(value as number[]).toString('utf8');
    }
    return fieldText(value[0]);
  }
  return undefined;
}
