// The daemons' logs (DESIGN §8): pino JSON lines on stdout for journald and log shippers,
// or with --pretty one readable line per entry from a small formatter of our own; and the
// adapter that hands pino child loggers to the protocol layers.

import { pino, type Logger as PinoLogger } from 'pino';
import type { Logger } from '../protocol/interfaces.js';

export type DaemonLogger = PinoLogger;

export interface LogStream {
  write(chunk: string): unknown;
}

export interface DaemonLoggerOptions {
  readonly level: string;
  readonly pretty: boolean;
  readonly stream: LogStream;
  /** Fields on every line (pid, node_id). */
  readonly base?: Record<string, unknown>;
}

export function createDaemonLogger(options: DaemonLoggerOptions): DaemonLogger {
  const { stream, pretty } = options;
  return pino({
    level: options.level,
    base: options.base ?? { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "level":"info" rather than 30: readable in journalctl and jq alike.
    formatters: { level: (label) => ({ level: label }) },
  }, { write: (line: string) => { stream.write(pretty ? formatPretty(line) : line); } });
}

/** The protocol layers' Logger on a pino logger. */
export function protocolLogger(logger: DaemonLogger): Logger {
  const method = (level: 'debug' | 'info' | 'warn' | 'error') => (objectOrMessage: object | string, message?: string): void => {
    if (typeof objectOrMessage === 'string') logger[level](objectOrMessage);
    else logger[level](objectOrMessage, message);
  };
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
}

const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'node_id', 'hostname', 'component']);

/** "12:00:01.234 INFO  [coap] message key=value …" from one pino JSON line. */
export function formatPretty(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? '').toUpperCase().padEnd(5);
  const component = typeof entry.component === 'string' ? `[${entry.component}] ` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  return `${time} ${level} ${component}${String(entry.msg ?? '')}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}

function fieldText(value: unknown): string {
  if (typeof value === 'object' && value !== null && 'message' in value && 'type' in value) {
    // pino's serialized Error: type and message; the stack stays in the JSON form.
    return JSON.stringify(`${String(value.type)}: ${String(value.message)}`);
  }
  if (typeof value === 'string' && /^[\w.:/@[\]-]+$/.test(value)) return value;
  return JSON.stringify(value);
}
