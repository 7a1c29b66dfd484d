// What the commands print: a response for people (payload, or a header block with -v) or
// for scripts (one JSON object), log lines on stderr, and the streams and shutdown signal a
// command runs with, passed in so tests and the launcher can supply their own.

import type { CoapResponse } from '../protocol/client.js';
import { describeCode, formatCode } from '../protocol/codes.js';
import { mediaTypeOf } from '../protocol/content-formats.js';
import { formatPeer, type Logger } from '../protocol/interfaces.js';
import { MESSAGE_TYPE_NAMES } from '../protocol/message.js';
import { formatOptionValue, OptionNumber, optionName, type CoapOption } from '../protocol/options.js';

export interface OutputStream {
  write(chunk: string | Uint8Array): boolean;
  readonly isTTY?: boolean;
  /** A terminal's width, when it is one. */
  readonly columns?: number;
}

/** The world a command sees. */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: AsyncIterable<Buffer | string>;
  /** Resolves with the signal's name when the process is asked to stop (SIGINT, SIGTERM). */
  shutdown(): Promise<string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// C0 controls other than tab, LF and CR, DEL and C1 controls: not for a terminal or a JSON
// reader expecting text.
const UNPRINTABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** The payload as text when it is valid UTF-8 without control characters, else undefined. */
export function payloadText(payload: Buffer): string | undefined {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return undefined;
  }
  return UNPRINTABLE.test(text) ? undefined : text;
}

const LINE_BREAK = /\r\n|\r|\n/;
const INLINE_BINARY_BYTES = 32;

/** A payload on one line: plain text as is, text with line breaks quoted as a JSON string
 * so the breaks show as \n, binary as a byte count and leading hex. */
export function payloadInline(payload: Buffer): string {
  const text = payloadText(payload);
  if (text !== undefined) return LINE_BREAK.test(text) ? JSON.stringify(text) : text;
  const hex = payload.subarray(0, INLINE_BINARY_BYTES).toString('hex');
  return `<${payload.length} bytes: ${hex}${payload.length > INLINE_BINARY_BYTES ? '...' : ''}>`;
}

const typeName = (type: number): string => MESSAGE_TYPE_NAMES[type] ?? String(type);

/** "2.05 Content" without the dotted code, or null for an unregistered code. */
function codeName(code: number): string | null {
  const name = describeCode(code).slice(formatCode(code).length).trim();
  return name === '' ? null : name;
}

function optionValueText(option: CoapOption): string {
  const value = formatOptionValue(option);
  if (option.number === OptionNumber.ContentFormat || option.number === OptionNumber.Accept) {
    const mediaType = mediaTypeOf(Number(value));
    return mediaType === undefined ? value : `${value} (${mediaType})`;
  }
  return value;
}

/** -v: the code, type and sender, each option by name, a blank line; the payload follows. */
export function formatResponseHeader(response: CoapResponse): string {
  const lines = [`${describeCode(response.code)} (${typeName(response.type)}) from ${formatPeer(response.peer)}`];
  for (const option of response.options) lines.push(`${optionName(option.number)}: ${optionValueText(option)}`);
  return `${lines.join('\n')}\n\n`;
}

export interface JsonResponse {
  readonly code: string;
  readonly codeName: string | null;
  readonly type: string;
  readonly options: readonly { readonly number: number; readonly name: string; readonly value: string }[];
  readonly contentFormat: number | null;
  readonly mediaType: string | null;
  readonly payload: string;
  readonly payloadEncoding: 'utf8' | 'base64';
}

/** --json: one object per response; binary payloads travel as base64. */
export function responseToJson(response: CoapResponse): JsonResponse {
  const text = payloadText(response.payload);
  return {
    code: formatCode(response.code),
    codeName: codeName(response.code),
    type: typeName(response.type),
    options: response.options.map((option) => ({
      number: option.number, name: optionName(option.number), value: formatOptionValue(option),
    })),
    contentFormat: response.contentFormat ?? null,
    mediaType: response.contentFormat === undefined ? null : mediaTypeOf(response.contentFormat) ?? null,
    payload: text ?? response.payload.toString('base64'),
    payloadEncoding: text === undefined ? 'base64' : 'utf8',
  };
}

/** An Error inside a log object becomes its code and message: JSON.stringify drops both. */
function logValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${value.message}` : value.message;
  }
  return value;
}

/** A Logger writing one line per entry to a stream: "level: message {fields}". Debug
 * lines only when verbose. The daemons use pino; the CLI's servers need no more. */
export function streamLogger(stream: OutputStream, verbose: boolean): Logger {
  const log = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    if (typeof objectOrMessage === 'string') {
      stream.write(`${level}: ${objectOrMessage}\n`);
      return;
    }
    stream.write(`${level}: ${message ?? ''} ${JSON.stringify(objectOrMessage, logValue)}\n`);
  };
  return { debug: verbose ? log('debug') : () => {}, info: log('info'), warn: log('warn'), error: log('error') };
}

/** Rows as columns padded to their widest cell, two spaces apart; the first row is the
 * header. The tables of nodes, alerts, audit entries and the demo's summary. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n')}\n`;
}
