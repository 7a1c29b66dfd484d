// `coap-fleet get|put|post|delete URI`: one request from an ephemeral UDP endpoint, the
// response printed for people or as JSON, and the exit status from the response class
// (2.xx → 0, 4.xx/5.xx → 1). Errors are thrown typed; main.ts maps them to 2 or 3.

import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import type { CoapResponse } from '../protocol/client.js';
import { isSuccessCode, Method } from '../protocol/codes.js';
import { parseContentFormat } from '../protocol/content-formats.js';
import { Endpoint } from '../protocol/endpoint.js';
import { parseUri, UriError, type CoapUri } from '../protocol/uri.js';
import { formatFlags, parseArgs, parseNumber, UsageError, type FlagValues } from './args.js';
import { formatResponseHeader, responseToJson, type CliIo } from './output.js';

export type RequestMethod = 'get' | 'put' | 'post' | 'delete';

const METHOD_CODE: Readonly<Record<RequestMethod, number>> = {
  get: Method.GET, put: Method.PUT, post: Method.POST, delete: Method.DELETE,
};

export const REQUEST_FLAGS = {
  payload: { type: 'string', value: 'TEXT', description: 'request payload' },
  file: { type: 'string', value: 'PATH', description: 'request payload from a file, "-" for stdin' },
  'content-format': { type: 'string', value: 'F', description: 'Content-Format: number, media type or json/cbor/text/link/octet' },
  accept: { type: 'string', value: 'F', description: 'Accept: the format wanted in the response' },
  non: { type: 'boolean', description: 'send a non-confirmable request (NON)' },
  timeout: { type: 'string', value: 'SECONDS', description: 'give up after this long (default: MAX_TRANSMIT_WAIT, 93 s)' },
  verbose: { type: 'boolean', short: 'v', description: 'print code, type and options before the payload' },
  json: { type: 'boolean', description: 'print the response as one JSON object' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

/** Without block-wise transfer a request must fit one datagram; RFC 7252 §4.6 would keep
 * it under ~1 KiB, but a loopback or LAN peer may accept more, so only the UDP limit. */
const MAX_PAYLOAD_BYTES = 65_000;
const MAX_TIMEOUT_SECONDS = 24 * 3600;

export function requestUsage(method: RequestMethod): string {
  return `Usage: coap-fleet ${method} URI [options]\n\n`
    + `Sends one ${method.toUpperCase()} request to a coap:// URI and prints the response payload.\n`
    + 'Exit status: 0 for 2.xx, 1 for 4.xx/5.xx, 2 for usage errors, 3 for timeouts and transport errors.\n\n'
    + `Options:\n${formatFlags(REQUEST_FLAGS)}`;
}

function contentFormatFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const format = parseContentFormat(text);
  if (format === undefined) throw new UsageError(`--${flag}: unknown content format ${JSON.stringify(text)}`);
  return format;
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(buffer);
    length += buffer.length;
    if (length > MAX_PAYLOAD_BYTES) break;
  }
  return Buffer.concat(chunks);
}

async function readPayload(flags: FlagValues<typeof REQUEST_FLAGS>, io: CliIo): Promise<Buffer | undefined> {
  if (flags.payload !== undefined && flags.file !== undefined) throw new UsageError('give --payload or --file, not both');
  let payload: Buffer | undefined;
  if (flags.payload !== undefined) payload = Buffer.from(flags.payload, 'utf8');
  else if (flags.file === '-') payload = await readAll(io.stdin);
  else if (flags.file !== undefined) {
    try {
      payload = await readFile(flags.file);
    } catch (error) {
      throw new UsageError(`--file: cannot read ${flags.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (payload !== undefined && payload.length > MAX_PAYLOAD_BYTES) {
    throw new UsageError(`payload larger than ${MAX_PAYLOAD_BYTES} bytes: block-wise requests are not supported here yet`);
  }
  return payload;
}

function targetUri(positionals: readonly string[]): { text: string; uri: CoapUri } {
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing URI' : `one URI expected, got ${positionals.length} arguments`);
  const text = positionals[0]!;
  const uri = parseUri(text);
  if (uri.scheme === 'coaps') throw new UriError('coaps:// needs DTLS, which this command does not speak yet');
  return { text, uri };
}

export async function runRequestCommand(method: RequestMethod, argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, REQUEST_FLAGS);
  if (flags.help === true) {
    io.stdout.write(requestUsage(method));
    return 0;
  }
  if (flags.json === true && flags.verbose === true) throw new UsageError('--json and --verbose do not combine');
  const { text, uri } = targetUri(positionals);
  const contentFormat = contentFormatFlag(flags['content-format'], 'content-format');
  const accept = contentFormatFlag(flags.accept, 'accept');
  const timeoutMs = flags.timeout === undefined ? undefined
    : parseNumber(flags.timeout, 'timeout', { min: 0.001, max: MAX_TIMEOUT_SECONDS }) * 1000;
  const payload = await readPayload(flags, io);

  // The socket's family must match the target's: an IPv6 literal needs an IPv6 socket; a
  // name is resolved by the endpoint for the family it is bound to.
  const endpoint = await Endpoint.udp({ host: isIPv6(uri.host) ? '::' : '0.0.0.0', port: 0 });
  let response: CoapResponse;
  try {
    response = await endpoint.request({
      uri: text,
      method: METHOD_CODE[method],
      confirmable: flags.non !== true,
      ...(payload === undefined ? {} : { payload }),
      ...(contentFormat === undefined ? {} : { contentFormat }),
      ...(accept === undefined ? {} : { accept }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  } finally {
    await endpoint.close();
  }

  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(responseToJson(response))}\n`);
  } else {
    if (flags.verbose === true) io.stdout.write(formatResponseHeader(response));
    io.stdout.write(response.payload);
    // A terminal prompt should not end up glued to the payload; a pipe gets the exact bytes.
    if (io.stdout.isTTY === true && response.payload.length > 0 && response.payload.at(-1) !== 0x0a) io.stdout.write('\n');
    if (!isSuccessCode(response.code) && flags.verbose !== true) {
      io.stderr.write(`coap-fleet: ${formatResponseHeader(response).split('\n')[0]}\n`);
    }
  }
  return isSuccessCode(response.code) ? 0 : 1;
}
