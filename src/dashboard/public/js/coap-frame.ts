// CoAP over WebSocket framing for the browser (RFC 8323 §4.2): one message per WebSocket
// binary message, the TCP header with Len always 0 and no extended length (§4.2: the
// WebSocket frame carries the length), then Code, Token, the options as RFC 7252 §3.1
// encodes them, and 0xFF before a payload. No type, no message ID.
// The gateway's codec (src/protocol/codec.ts) works on Node's Buffer and cannot load in a
// browser; this one is small on purpose: only what the page sends and reads.

export interface CoapOption {
  readonly number: number;
  readonly value: Uint8Array;
}

export interface Frame {
  /** class << 5 | detail, e.g. 0x45 for 2.05. */
  readonly code: number;
  readonly token: Uint8Array;
  /** In ascending option number (encodeFrame sorts; decodeFrame keeps the wire's order). */
  readonly options: readonly CoapOption[];
  readonly payload: Uint8Array;
}

export const Code = {
  GET: 0x01, POST: 0x02, PUT: 0x03, DELETE: 0x04,
  /** Signals (RFC 8323 §5): 7.01 CSM, 7.02 Ping, 7.03 Pong, 7.04 Release, 7.05 Abort. */
  CSM: 0xe1, Ping: 0xe2, Pong: 0xe3, Release: 0xe4, Abort: 0xe5,
} as const;

export const Option = {
  Observe: 6, UriPath: 11, ContentFormat: 12, UriQuery: 15, Accept: 17, Block2: 23, Size2: 28,
  /** In a CSM (RFC 8323 §5.3.1, §5.3.2): the signal's own option numbers. */
  MaxMessageSize: 2, BlockWiseTransfer: 4,
} as const;

export const ContentFormat = { json: 50 } as const;

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

const PAYLOAD_MARKER = 0xff;

/** "2.05" for 0x45. */
export const codeText = (code: number): string => `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;

export const isSuccess = (code: number): boolean => code >> 5 === 2;

/** An unsigned integer option value in the fewest bytes (RFC 7252 §3.2: 0 is empty). */
export function uintValue(value: number): Uint8Array {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.from(bytes);
}

export function readUint(value: Uint8Array): number {
  let result = 0;
  for (const byte of value) result = result * 256 + byte;
  return result;
}

export const textValue = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The first option `number`, or undefined. */
export const optionOf = (frame: Frame, number: number): CoapOption | undefined => frame.options.find((option) => option.number === number);

/** Uri-Path and Uri-Query options of `path` ("/nodes/n1/logs?unit=x"), RFC 7252 §6.4: each
 * segment and argument percent-decoded. */
export function uriOptions(path: string): CoapOption[] {
  const [pathPart = '', queryPart] = path.split('?', 2) as [string, string | undefined];
  const segments = pathPart.split('/').filter((segment) => segment !== '');
  const query = queryPart === undefined || queryPart === '' ? [] : queryPart.split('&');
  return [
    ...segments.map((segment) => ({ number: Option.UriPath, value: textValue(decodeURIComponent(segment)) })),
    ...query.map((argument) => ({ number: Option.UriQuery, value: textValue(decodeURIComponent(argument)) })),
  ];
}

/** Block2's value (RFC 7959 §2.2): block number, more flag, size exponent (size 2^(4+szx)). */
export interface BlockValue {
  readonly num: number;
  readonly more: boolean;
  readonly szx: number;
}

export const readBlock = (value: Uint8Array): BlockValue => {
  const raw = readUint(value);
  return { num: Math.floor(raw / 16), more: (raw & 0x08) !== 0, szx: raw & 0x07 };
};

export const blockValue = ({ num, more, szx }: BlockValue): Uint8Array => uintValue(num * 16 + (more ? 8 : 0) + szx);

export function encodeFrame(frame: Frame): Uint8Array<ArrayBuffer> {
  if (frame.token.length > 8) throw new FrameError('token longer than 8 bytes');
  const parts: number[] = [frame.token.length, frame.code, ...frame.token];
  let previous = 0;
  for (const option of [...frame.options].sort((a, b) => a.number - b.number)) {
    const delta = option.number - previous;
    previous = option.number;
    const [deltaNibble, deltaExtra] = nibble(delta);
    const [lengthNibble, lengthExtra] = nibble(option.value.length);
    parts.push((deltaNibble << 4) | lengthNibble, ...deltaExtra, ...lengthExtra, ...option.value);
  }
  if (frame.payload.length > 0) parts.push(PAYLOAD_MARKER);
  const bytes = new Uint8Array(parts.length + frame.payload.length);
  bytes.set(parts);
  bytes.set(frame.payload, parts.length);
  return bytes;
}

/** RFC 7252 §3.1: 0-12 in the nibble, 13 + one byte, 14 + two bytes. */
function nibble(value: number): [number, number[]] {
  if (value < 13) return [value, []];
  if (value < 269) return [13, [value - 13]];
  if (value < 65805) return [14, [(value - 269) >> 8, (value - 269) & 0xff]];
  throw new FrameError(`option delta or length ${value} too large`);
}

export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < 2) throw new FrameError('shorter than a header');
  const first = bytes[0]!;
  // §4.2: over WebSocket the Len nibble is always 0; the message is the whole frame.
  if (first >> 4 !== 0) throw new FrameError(`Len nibble ${first >> 4}, not 0`);
  const tokenLength = first & 0x0f;
  if (tokenLength > 8) throw new FrameError(`token length ${tokenLength}`);
  const code = bytes[1]!;
  let at = 2 + tokenLength;
  if (at > bytes.length) throw new FrameError('token cut short');
  const token = bytes.slice(2, at);
  const options: CoapOption[] = [];
  let number = 0;
  while (at < bytes.length && bytes[at] !== PAYLOAD_MARKER) {
    const head = bytes[at++]!;
    let delta: number;
    let length: number;
    [delta, at] = extended(bytes, head >> 4, at);
    [length, at] = extended(bytes, head & 0x0f, at);
    if (at + length > bytes.length) throw new FrameError('option value cut short');
    number += delta;
    options.push({ number, value: bytes.slice(at, at + length) });
    at += length;
  }
  if (at < bytes.length) {
    at++;
    // RFC 7252 §3: a marker followed by nothing is a format error.
    if (at === bytes.length) throw new FrameError('payload marker without a payload');
  }
  return { code, token, options, payload: bytes.slice(at) };
}

function extended(bytes: Uint8Array, value: number, at: number): [number, number] {
  if (value < 13) return [value, at];
  if (value === 13) {
    if (at + 1 > bytes.length) throw new FrameError('option cut short');
    return [bytes[at]! + 13, at + 1];
  }
  if (value === 14) {
    if (at + 2 > bytes.length) throw new FrameError('option cut short');
    return [((bytes[at]! << 8) | bytes[at + 1]!) + 269, at + 2];
  }
  throw new FrameError('option nibble 15 outside the payload marker');
}
