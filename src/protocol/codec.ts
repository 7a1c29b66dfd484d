// Bytes <-> message, RFC 7252 §3. Pure: no I/O, no clock. `decode` returns a message or
// throws a FormatError and nothing else, on any input, allocating no more than the input
// (option values and payload are views into it). `encode` refuses what cannot be sent.

import { FormatError, type PartialHeader } from './errors.js';
import { EMPTY_BUFFER, type Message, type MessageType } from './message.js';
import { decodeOptions, MAX_TOKEN_LENGTH, optionsSize, sortedOptions, writeOptions } from './option-codec.js';

export { MAX_TOKEN_LENGTH };

const VERSION = 1;

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

  const { options, payload } = decodeOptions(bytes, offset, header);
  return { type, code, messageId, token, options, payload };
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
  const options = sortedOptions(message.options);
  const { token, payload } = message;
  const out = Buffer.allocUnsafe(4 + token.length + optionsSize(options, payload));
  out[0] = (VERSION << 6) | (message.type << 4) | token.length;
  out[1] = message.code;
  out[2] = message.messageId >> 8;
  out[3] = message.messageId & 0xff;
  writeOptions(out, 4 + token.copy(out, 4), options, payload);
  return out;
}
