// `coap-fleet get|put|post|delete URI`: one request from an ephemeral UDP endpoint (DTLS
// for coaps:// URIs, with a PSK or certificates), the response printed for people or as JSON, and the exit status from the response class
// (2.xx → 0, 4.xx/5.xx → 1). Bodies over one block go block-wise (RFC 7959): held in
// memory up to 16 MiB, or streamed from and to files with --in and --out. Errors are
// thrown typed; main.ts maps them to 1, 2 or 3.

import { createHash, type Hash } from 'node:crypto';
import { access, constants, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { blockOption, sizeExponentFor } from '../protocol/block.js';
import type { BlockSink } from '../protocol/block-client.js';
import { fileBody } from '../protocol/body.js';
import type { CoapResponse } from '../protocol/client.js';
import { formatCode, isSuccessCode, Method } from '../protocol/codes.js';
import { parseContentFormat } from '../protocol/content-formats.js';
import type { Endpoint } from '../protocol/endpoint.js';
import { OptionNumber } from '../protocol/options.js';
import { parseUri, type CoapUri } from '../protocol/uri.js';
import { formatFlags, parseArgs, parseNumber, type FlagValues } from './args.js';
import { UsageError } from './errors.js';
import { openClientEndpoint } from '../operator/client-endpoint.js';
import { CREDENTIALS_FLAG, clientDtlsCredentials, DTLS_FLAGS, type DtlsFlags } from './dtls-flags.js';
import { formatResponseHeader, payloadText, responseToJson, type CliIo } from './output.js';
import { progressBar } from './progress.js';
import { sha256File } from '../fleet/sha256-file.js';

export type RequestMethod = 'get' | 'put' | 'post' | 'delete';

const METHOD_CODE: Readonly<Record<RequestMethod, number>> = {
  get: Method.GET, put: Method.PUT, post: Method.POST, delete: Method.DELETE,
};

export const REQUEST_FLAGS = {
  payload: { type: 'string', value: 'TEXT', description: 'request payload' },
  file: { type: 'string', value: 'PATH', description: 'request payload from a file, "-" for stdin (read whole, up to 16 MiB)' },
  in: { type: 'string', value: 'FILE', description: 'stream the request body from FILE block-wise (Block1), any size' },
  out: { type: 'string', value: 'FILE', description: 'stream the response body block-wise (Block2) into FILE instead of printing it' },
  'content-format': { type: 'string', value: 'F', description: 'Content-Format: number, media type or json/cbor/text/link/octet' },
  accept: { type: 'string', value: 'F', description: 'Accept: the format wanted in the response' },
  'block-size': { type: 'string', value: 'N', description: 'block size in bytes: 16, 32, 64, 128, 256, 512 or 1024 (default 1024)' },
  non: { type: 'boolean', description: 'send a non-confirmable request (NON)' },
  timeout: { type: 'string', value: 'SECONDS', description: 'give up on a request (or on one block) after this long (default 93 s)' },
  verbose: { type: 'boolean', short: 'v', description: 'print code, type and options before the payload' },
  json: { type: 'boolean', description: 'print the response as one JSON object' },
  ...CREDENTIALS_FLAG,
  ...DTLS_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

type RequestFlag = keyof typeof REQUEST_FLAGS;
type RequestFlags = FlagValues<typeof REQUEST_FLAGS>;

/** --out only makes sense for GET, --in for the methods with a body; a DELETE has neither
 * a body to send nor, for the stack, a block-wise answer to collect. */
const NOT_FOR: Readonly<Record<RequestMethod, readonly RequestFlag[]>> = {
  get: ['in'],
  put: ['out'],
  post: ['out'],
  delete: ['in', 'out', 'block-size'],
};

/** The flag table of one method. Typed as the whole table: the flags left out are simply
 * never set, since the parser refuses them. */
function flagsFor(method: RequestMethod): typeof REQUEST_FLAGS {
  const left = NOT_FOR[method];
  return Object.fromEntries(Object.entries(REQUEST_FLAGS).filter(([name]) => !left.includes(name as RequestFlag))) as typeof REQUEST_FLAGS;
}

/** What --payload and --file may hold in memory; the same bound the stack puts on a
 * block-wise response it collects (Endpoint.request's maxBodySize). Larger goes by file. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
export const MAX_TIMEOUT_SECONDS = 24 * 3600;

const DESCRIPTION: Readonly<Record<RequestMethod, string>> = {
  get: 'Sends a GET to a coap:// URI and prints the response payload. A block-wise response\n'
    + '(RFC 7959 Block2) is collected whole, up to 16 MiB; --out FILE streams it to FILE\n'
    + 'instead, of any size, with a progress bar when stderr is a terminal; with --json it\n'
    + 'prints {code, size, sha256, file}. A failed transfer leaves in FILE what arrived.\n',
  put: 'Sends a PUT to a coap:// URI and prints the response payload. A body over one block\n'
    + 'goes block-wise (RFC 7959 Block1): --payload and --file up to 16 MiB from memory,\n'
    + '--in FILE streamed from the file, of any size, with a progress bar when stderr is a\n'
    + 'terminal.\n',
  post: 'Sends a POST to a coap:// URI and prints the response payload. A body over one block\n'
    + 'goes block-wise (RFC 7959 Block1): --payload and --file up to 16 MiB from memory,\n'
    + '--in FILE streamed from the file, of any size, with a progress bar when stderr is a\n'
    + 'terminal.\n',
  delete: 'Sends a DELETE to a coap:// URI and prints the response payload.\n',
};

const DTLS_DESCRIPTION = 'A coaps:// URI goes over DTLS 1.2: with --credentials FILE (from keys generate), or\n'
  + '--psk-identity and --psk-key (or --psk-key-hex)\n'
  + '(TLS_PSK_WITH_AES_128_CCM_8), or with certificates: --ca to verify the server, --cert\n'
  + 'and --key when it asks for ours (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, P-256). The server\n'
  + 'certificate must name the URI\'s host when that is a name rather than an address.\n';

export function requestUsage(method: RequestMethod): string {
  return `Usage: coap-fleet ${method} URI [options]\n\n${DESCRIPTION[method]}\n${DTLS_DESCRIPTION}\n`
    + 'Exit status: 0 for 2.xx, 1 for 4.xx/5.xx, 2 for usage errors, 3 for timeouts and transport errors.\n\n'
    + `Options:\n${formatFlags(flagsFor(method))}`;
}

export function contentFormatFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const format = parseContentFormat(text);
  if (format === undefined) throw new UsageError(`--${flag}: unknown content format ${JSON.stringify(text)}`);
  return format;
}

export function timeoutFlag(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseNumber(text, 'timeout', { min: 0.001, max: MAX_TIMEOUT_SECONDS }) * 1000;
}

/** --block-size as the block size exponent (SZX, RFC 7959 §2.2). */
function blockSizeFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (![16, 32, 64, 128, 256, 512, 1024].includes(bytes)) {
    throw new UsageError(`--block-size must be a power of two from 16 to 1024, not ${JSON.stringify(text)}`);
  }
  return sizeExponentFor(bytes);
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(buffer);
    length += buffer.length;
    if (length > MAX_BODY_BYTES) break;
  }
  return Buffer.concat(chunks);
}

async function readPayload(flags: RequestFlags, io: CliIo): Promise<Buffer | undefined> {
  let payload: Buffer | undefined;
  if (flags.payload !== undefined) payload = Buffer.from(flags.payload, 'utf8');
  else if (flags.file === '-') payload = await readAll(io.stdin);
  else if (flags.file !== undefined) {
    try {
      const { size } = await stat(flags.file);
      if (size > MAX_BODY_BYTES) throw new UsageError(`--file: ${flags.file} has ${size} bytes, more than ${MAX_BODY_BYTES}: stream it with --in`);
      payload = await readFile(flags.file);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`--file: cannot read ${flags.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (payload !== undefined && payload.length > MAX_BODY_BYTES) {
    throw new UsageError(`payload larger than ${MAX_BODY_BYTES} bytes: stream it from a file with --in`);
  }
  return payload;
}

/** The size of the --in file, which must be a regular file: its size goes out as Size1
 * and the blocks are read at offsets. */
async function inputFileSize(path: string): Promise<number> {
  if (path === '-') throw new UsageError('--in needs a file; for stdin use --file - (read whole, up to 16 MiB)');
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    throw new UsageError(`--in: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!stats.isFile()) throw new UsageError(`--in: ${path} is not a regular file`);
  return stats.size;
}

/** Refuses an --out path that cannot be written before anything is sent. The file itself
 * is created only when the first block arrives, so an error response leaves none. */
async function checkOutputPath(path: string): Promise<void> {
  if (path === '-') throw new UsageError('--out needs a file; without --out the body goes to stdout');
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory() === true) throw new UsageError(`--out: ${path} is a directory`);
  try {
    await access(existing === undefined ? dirname(path) : path, constants.W_OK);
  } catch (error) {
    throw new UsageError(`--out: cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function targetUri(positionals: readonly string[]): { text: string; uri: CoapUri } {
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing URI' : `one URI expected, got ${positionals.length} arguments`);
  const text = positionals[0]!;
  return { text, uri: parseUri(text) };
}

/** An ephemeral endpoint whose family matches the target's: an IPv6 literal needs an IPv6
 * socket; a name is resolved by the endpoint for the family it is bound to. A coaps:// URI
 * gets a DTLS client endpoint with the credentials of the DTLS flags (which a coap:// URI
 * refuses, rather than silently sending in the clear). */
/** A client endpoint for `uri` with the DTLS credentials of the flags. */
export async function openEndpoint(uri: CoapUri, maxBlockSizeExponent: number | undefined, flags: DtlsFlags & { credentials?: string | undefined }): Promise<Endpoint> {
  return openClientEndpoint(uri, { dtls: await clientDtlsCredentials(uri, flags), maxBlockSizeExponent });
}

interface FileSink extends BlockSink {
  close(): Promise<void>;
  /** The SHA-256 of what the file holds, once closed. */
  sha256(): Promise<string>;
}

/** A download's sink: blocks written at their offsets through one FileHandle, the file
 * truncated when the representation changes mid-transfer (ETag, RFC 7959 §2.4). The hash
 * follows the bytes as they arrive in order, so the body is never held or read twice. */
function fileSink(path: string): FileSink {
  let handle: FileHandle | undefined;
  let hash: Hash = createHash('sha256');
  let hashedUpTo = 0;
  let inOrder = true;
  return {
    async write(chunk, offset) {
      handle ??= await open(path, 'w');
      for (let written = 0; written < chunk.length;) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.length - written, offset + written);
        written += bytesWritten;
      }
      if (offset === hashedUpTo) {
        hash.update(chunk);
        hashedUpTo += chunk.length;
      } else {
        inOrder = false;
      }
    },
    async reset() {
      await handle?.truncate(0);
      hash = createHash('sha256');
      hashedUpTo = 0;
      inOrder = true;
    },
    async close() {
      const opened = handle;
      handle = undefined;
      await opened?.close();
    },
    async sha256() {
      if (inOrder) return hash.digest('hex');
      // Blocks came out of order (not something downloadBlocks does): hash the file.
      return sha256File(path);
    },
  };
}

/** What every request of one command line shares. */
interface RequestBase {
  readonly uri: string;
  readonly method: number;
  readonly confirmable: boolean;
  readonly contentFormat?: number;
  readonly accept?: number;
  readonly timeoutMs?: number;
}

async function downloadToFile(
  endpoint: Endpoint, request: RequestBase, path: string, sizeExponent: number | undefined, flags: RequestFlags, io: CliIo,
): Promise<number> {
  const sink = fileSink(path);
  const progress = progressBar(io.stderr, basename(path));
  let result;
  try {
    result = await endpoint.download({
      ...request, sink, onProgress: (received, total) => progress.update(received, total),
      ...(sizeExponent === undefined ? {} : { sizeExponent }),
    });
    progress.update(result.size, result.size);
  } finally {
    progress.finish();
    await sink.close();
  }
  const sha256 = await sink.sha256();
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify({ code: formatCode(result.last.code), size: result.size, sha256, file: path })}\n`);
  } else if (flags.verbose === true) {
    io.stdout.write(formatResponseHeader(result.last).replace(/\n\n$/, '\n'));
    io.stdout.write(`${result.size} bytes written to ${path} (sha256 ${sha256})\n`);
  }
  return isSuccessCode(result.last.code) ? 0 : 1;
}

async function uploadFile(
  endpoint: Endpoint, request: RequestBase, path: string, size: number, sizeExponent: number | undefined, io: CliIo,
): Promise<CoapResponse> {
  const progress = progressBar(io.stderr, basename(path));
  try {
    const response = await endpoint.upload({
      ...request, source: fileBody(path, size), onProgress: (sent, total) => progress.update(sent, total),
      ...(sizeExponent === undefined ? {} : { sizeExponent }),
    });
    if (isSuccessCode(response.code)) progress.update(size, size);
    return response;
  } finally {
    progress.finish();
  }
}

function printResponse(response: CoapResponse, flags: RequestFlags, io: CliIo): number {
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(responseToJson(response))}\n`);
  } else {
    if (flags.verbose === true) io.stdout.write(formatResponseHeader(response));
    io.stdout.write(response.payload);
    // Text ends with a line break, like any command's output (a prompt or the next line
    // should not be glued to it); binary goes as it is unless on a terminal. --out FILE
    // is the byte-exact way.
    const text = payloadText(response.payload) !== undefined;
    if ((text || io.stdout.isTTY === true) && response.payload.length > 0 && response.payload.at(-1) !== 0x0a) io.stdout.write('\n');
    if (!isSuccessCode(response.code) && flags.verbose !== true) {
      io.stderr.write(`coap-fleet: ${formatResponseHeader(response).split('\n')[0]}\n`);
    }
  }
  return isSuccessCode(response.code) ? 0 : 1;
}

export async function runRequestCommand(method: RequestMethod, argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, flagsFor(method));
  if (flags.help === true) {
    io.stdout.write(requestUsage(method));
    return 0;
  }
  if (flags.json === true && flags.verbose === true) throw new UsageError('--json and --verbose do not combine');
  const bodyFlags = (['payload', 'file', 'in'] as const).filter((name) => flags[name] !== undefined);
  if (bodyFlags.length > 1) throw new UsageError(`give one of --${bodyFlags.join(', --')}, not several`);
  if (flags.out !== undefined && bodyFlags.length > 0) throw new UsageError(`--out does not combine with --${bodyFlags[0]}`);
  const { text, uri } = targetUri(positionals);
  const contentFormat = contentFormatFlag(flags['content-format'], 'content-format');
  const accept = contentFormatFlag(flags.accept, 'accept');
  const timeoutMs = timeoutFlag(flags.timeout);
  const sizeExponent = blockSizeFlag(flags['block-size']);
  const payload = await readPayload(flags, io);
  const inputSize = flags.in === undefined ? undefined : await inputFileSize(flags.in);
  if (flags.out !== undefined) await checkOutputPath(flags.out);

  const request: RequestBase = {
    uri: text,
    method: METHOD_CODE[method],
    confirmable: flags.non !== true,
    ...(contentFormat === undefined ? {} : { contentFormat }),
    ...(accept === undefined ? {} : { accept }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
  // The endpoint's largest block is the chosen size: Block1 of a payload from memory and
  // the block size it follows in responses both come from it.
  const endpoint = await openEndpoint(uri, sizeExponent, flags);
  let response: CoapResponse;
  try {
    if (flags.out !== undefined) return await downloadToFile(endpoint, request, flags.out, sizeExponent, flags, io);
    if (flags.in !== undefined) {
      response = await uploadFile(endpoint, request, flags.in, inputSize!, sizeExponent, io);
    } else {
      response = await endpoint.request({
        ...request,
        maxBodySize: MAX_BODY_BYTES,
        ...(payload === undefined ? {} : { payload }),
        // Early negotiation (RFC 7959 §2.4): a GET asks for block 0 at our size, so even
        // the first block of the response is no larger.
        ...(sizeExponent === undefined || method !== 'get'
          ? {} : { options: [blockOption(OptionNumber.Block2, { num: 0, moreBlocks: false, sizeExponent })] }),
      });
    }
  } finally {
    await endpoint.close();
  }
  return printResponse(response, flags, io);
}
