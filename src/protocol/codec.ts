// Bytes <-> message, RFC 7252 §3. Pure: no I/O, no clock. `decode` returns a message or
// throws a FormatError and nothing else, on any input, allocating no more than the input
// (option values and payload are views into it). `encode` refuses what cannot be sent.

import { FormatError, type PartialHeader } from './errors.js';
import { EMPTY_BUFFER, type Message, type MessageType } from './message.js';
import { OPTIONS, WireOption, type CoapOption } from './options.js';

const VERSION = 1;
const PAYLOAD_MARKER = 0xff;
export const MAX_TOKEN_LENGTH = 8;
const MAX_OPTION_NUMBER = 0xffff;
// §3.1: 13 and 14 take one and two extended bytes; 15 is reserved (the payload marker).
const EXTENDED_1 = 13;
const EXTENDED_2 = 14;
const MAX_OPTION_LENGTH = 0xffff + 269;

export function decode(bytes: Buffer): Message {
  if (bytes.length < 4) throw new FormatError(`datagram of ${bytes.length} bytes is shorter than the 4-byte header`);
  const first = bytes[0]!;
  if (first >> 6 !== VERSION) {
    // §3: unknown versions are silently ignored, so no header is offered for an answer.
    throw new FormatError(`unknown version ${first >> 6}`);
  }
  const type = ((first >> 4) & 0x3) as MessageType;
  const tokenLength = first & 0xf;
  const code = bytes[1]!;
  const messageId = (bytes[2]! << 8) | bytes[3]!;
  const header: PartialHeader = { type, code, messageId };
  if (tokenLength > MAX_TOKEN_LENGTH) throw new FormatError(`reserved token length ${tokenLength}`, header);
  if (code === 0) {
    // §4.1: an Empty message has nothing after the message ID.
    if (bytes.length !== 4 || tokenLength !== 0) throw new FormatError('empty message (0.00) with bytes after the header', header);
    return { type, code, messageId, token: EMPTY_BUFFER, options: [], payload: EMPTY_BUFFER };
  }
  let offset = 4 + tokenLength;
  if (offset > bytes.length) throw new FormatError(`token of ${tokenLength} bytes runs past the datagram`, header);
  const token = bytes.subarray(4, offset);

  const options: CoapOption[] = [];
  let number = 0;
  let payload = EMPTY_BUFFER;
  while (offset < bytes.length) {
    const head = bytes[offset++]!;
    if (head === PAYLOAD_MARKER) {
      if (offset === bytes.length) throw new FormatError('payload marker followed by no payload', header);
      payload = bytes.subarray(offset);
      break;
    }
    let delta = head >> 4;
    let length = head & 0xf;
    if (delta === 15 || length === 15) throw new FormatError('reserved option nibble 15', header);
    if (delta === EXTENDED_1) {
      if (offset + 1 > bytes.length) throw new FormatError('truncated option delta', header);
      delta = bytes[offset++]! + 13;
    } else if (delta === EXTENDED_2) {
      if (offset + 2 > bytes.length) throw new FormatError('truncated option delta', header);
      delta = ((bytes[offset]! << 8) | bytes[offset + 1]!) + 269;
      offset += 2;
    }
    if (length === EXTENDED_1) {
      if (offset + 1 > bytes.length) throw new FormatError('truncated option length', header);
      length = bytes[offset++]! + 13;
    } else if (length === EXTENDED_2) {
      if (offset + 2 > bytes.length) throw new FormatError('truncated option length', header);
      length = ((bytes[offset]! << 8) | bytes[offset + 1]!) + 269;
      offset += 2;
    }
    number += delta;
    if (number > MAX_OPTION_NUMBER) throw new FormatError(`option number ${number} past 65535`, header);
    if (offset + length > bytes.length) throw new FormatError(`option ${number} value runs past the datagram`, header);
    options.push(new WireOption(number, bytes, offset, offset + length));
    offset += length;
  }
  return { type, code, messageId, token, options, payload };
}

/** §3.1: the nibble and extended bytes for a delta or length. */
const nibble = (value: number): number => (value < 13 ? value : value < 269 ? EXTENDED_1 : EXTENDED_2);
const extendedSize = (value: number): number => (value < 13 ? 0 : value < 269 ? 1 : 2);

function writeExtended(buffer: Buffer, offset: number, value: number): number {
  if (value < 13) return offset;
  if (value < 269) {
    buffer[offset] = value - 13;
    return offset + 1;
  }
  buffer.writeUInt16BE(value - 269, offset);
  return offset + 2;
}

function isSorted(options: readonly CoapOption[]): boolean {
  for (let i = 1; i < options.length; i++) if (options[i]!.number < options[i - 1]!.number) return false;
  return true;
}

function checkOption(option: CoapOption): void {
  const { number, value } = option;
  if (!Number.isInteger(number) || number < 0 || number > MAX_OPTION_NUMBER) {
    throw new FormatError(`option number ${number} outside 0..65535`);
  }
  const definition = OPTIONS.get(number);
  if (definition !== undefined) {
    if (value.length < definition.minLength || value.length > definition.maxLength) {
      throw new FormatError(
        `${definition.name} value of ${value.length} bytes outside ${definition.minLength}..${definition.maxLength}`,
      );
    }
  } else if (value.length > MAX_OPTION_LENGTH) {
    throw new FormatError(`option ${number} value of ${value.length} bytes is too long to encode`);
  }
}

function checkHeader(message: Message): void {
  const { type, code, messageId, token } = message;
  if (!(type >= 0 && type <= 3 && Number.isInteger(type))) throw new FormatError(`message type ${type} outside 0..3`);
  if (!(code >= 0 && code <= 0xff && Number.isInteger(code))) throw new FormatError(`code ${code} outside 0..255`);
  if (!(messageId >= 0 && messageId <= 0xffff && Number.isInteger(messageId))) {
    throw new FormatError(`message ID ${messageId} outside 0..65535`);
  }
  if (token.length > MAX_TOKEN_LENGTH) throw new FormatError(`token of ${token.length} bytes, at most 8`);
  if (code === 0 && (token.length > 0 || message.options.length > 0 || message.payload.length > 0)) {
    throw new FormatError('an empty message (0.00) carries no token, options or payload');
  }
}

export function encode(message: Message): Buffer {
  checkHeader(message);
  // Options go out in ascending number order (§3.1); the sort is stable, so repeated
  // options keep the order the caller gave them.
  const options = isSorted(message.options) ? message.options : [...message.options].sort((a, b) => a.number - b.number);
  const { token, payload } = message;

  let size = 4 + token.length;
  let previous = 0;
  for (const option of options) {
    checkOption(option);
    const delta = option.number - previous;
    size += 1 + extendedSize(delta) + extendedSize(option.value.length) + option.value.length;
    previous = option.number;
  }
  if (payload.length > 0) size += 1 + payload.length;

  const out = Buffer.allocUnsafe(size);
  out[0] = (VERSION << 6) | (message.type << 4) | token.length;
  out[1] = message.code;
  out[2] = message.messageId >> 8;
  out[3] = message.messageId & 0xff;
  let offset = 4 + token.copy(out, 4);
  previous = 0;
  for (const option of options) {
    const delta = option.number - previous;
    const length = option.value.length;
    out[offset++] = (nibble(delta) << 4) | nibble(length);
    offset = writeExtended(out, offset, delta);
    offset = writeExtended(out, offset, length);
    offset += option.value.copy(out, offset);
    previous = option.number;
  }
  if (payload.length > 0) {
    out[offset++] = PAYLOAD_MARKER;
    payload.copy(out, offset);
  }
  return out;
}
