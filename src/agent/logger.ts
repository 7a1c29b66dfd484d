// The agent's logs (DESIGN §8): pino JSON lines to stdout, journald friendly, or with
// --pretty one readable line per entry for people; and the adapter that hands pino child
// loggers to the protocol stack, whose Logger takes (object | message, message?).

import { pino, type Logger as PinoLogger } from 'pino';
import type { Logger } from '../protocol/interfaces.js';
import type { LogLevel } from './config.js';

export type AgentLogger = PinoLogger;

export interface LineSink {
  write(line: string): unknown;
}

export function createAgentLogger(options: {
  readonly level: LogLevel; readonly pretty: boolean; readonly out: LineSink; readonly nodeId: string;
}): AgentLogger {
  const destination = options.pretty ? prettySink(options.out) : { write: (line: string) => { options.out.write(line); } };
  return pino({
    level: options.level,
    base: { node_id: options.nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, destination);
}

/** The protocol stack's Logger on top of a pino logger. */
export function protocolLogger(logger: AgentLogger): Logger {
  const method = (level: 'debug' | 'info' | 'warn' | 'error') => (objectOrMessage: object | string, message?: string): void => {
    if (typeof objectOrMessage === 'string') logger[level](objectOrMessage);
    else logger[level](objectOrMessage, message);
  };
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
}

const OMITTED = new Set(['level', 'time', 'msg', 'node_id', 'pid', 'hostname', 'component']);

/** "12:00:01.234 INFO  updates: downloading -> downloaded update_id=u1" from a JSON line. */
export function formatPretty(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? '').toUpperCase().padEnd(5);
  const component = typeof entry.component === 'string' ? `${entry.component}: ` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${time} ${level} ${component}${String(entry.msg ?? '')}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}

function prettySink(out: LineSink): LineSink {
  return { write: (chunk: string) => { for (const line of chunk.split('\n')) if (line !== '') out.write(formatPretty(line)); } };
}
