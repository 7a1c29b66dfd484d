// CoAP over WebSocket, RFC 8323 §4.2: one WebSocket binary message is one CoAP message,
// framed as for TCP with the length nibble 0 (the WebSocket frame carries the length):
// Len=0 | TKL, Code, Token, then options and payload as RFC 7252 §3.1 writes them. No type,
// no message ID (the connection is reliable, §2). Signaling messages (class 7, §5) have
// option numbers of their own per code. Pure: decoding throws a FormatError and nothing
// else, on any input.

import { makeCode } from './codes.js';
import { FormatError } from './errors.js';
import { EMPTY_BUFFER, type Message } from './message.js';
import { decodeOptions, MAX_TOKEN_LENGTH, optionsSize, sortedOptions, writeOptions } from './option-codec.js';
import { OPTIONS, type CoapOption, type OptionDefinition } from './options.js';

/** A CoAP message on a reliable transport: a UDP message without type and message ID. */
export type FramedMessage = Omit<Message, 'type' | 'messageId'>;

/** RFC 8323 §5: the signaling codes. */
export const SignalCode = {
  CSM: makeCode(7, 1),
  Ping: makeCode(7, 2),
  Pong: makeCode(7, 3),
  Release: makeCode(7, 4),
  Abort: makeCode(7, 5),
} as const;

/** RFC 8323 §5.3.1, §5.3.2: Capabilities and Settings Message options. */
export const CsmOption = { MaxMessageSize: 2, BlockWiseTransfer: 4 } as const;
/** §5.4.1: Custody in Ping and Pong. */
export const PingOption = { Custody: 2 } as const;
/** §5.5.1, §5.5.2: Release's Alternative-Address and Hold-Off. */
export const ReleaseOption = { AlternativeAddress: 2, HoldOff: 4 } as const;
/** §5.6.1: Abort's Bad-CSM-Option. */
export const AbortOption = { BadCsmOption: 2 } as const;

/** §5.3.1: the Max-Message-Size a peer is assumed to take until its CSM says otherwise. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1152;

const define = (number: number, name: string, format: OptionDefinition['format'], minLength: number, maxLength: number, repeatable = false): OptionDefinition =>
  ({ number, name, format, minLength, maxLength, repeatable });

/** The option registry of each signaling code (§11.2), for length checks and names. */
export const SIGNAL_OPTIONS: ReadonlyMap<number, ReadonlyMap<number, OptionDefinition>> = new Map([
  [SignalCode.CSM, new Map([
    [CsmOption.MaxMessageSize, define(2, 'Max-Message-Size', 'uint', 0, 4)],
    [CsmOption.BlockWiseTransfer, define(4, 'Block-Wise-Transfer', 'empty', 0, 0)],
  ])],
  [SignalCode.Ping, new Map([[PingOption.Custody, define(2, 'Custody', 'empty', 0, 0)]])],
  [SignalCode.Pong, new Map([[PingOption.Custody, define(2, 'Custody', 'empty', 0, 0)]])],
  [SignalCode.Release, new Map([
    [ReleaseOption.AlternativeAddress, define(2, 'Alternative-Address', 'string', 1, 255, true)],
    [ReleaseOption.HoldOff, define(4, 'Hold-Off', 'uint', 0, 3)],
  ])],
  [SignalCode.Abort, new Map([[AbortOption.BadCsmOption, define(2, 'Bad-CSM-Option', 'uint', 0, 2)]])],
]);

export const isSignalCode = (code: number): boolean => code >> 5 === 7;

/** The options a message's code gives meaning to: a signal's own, else RFC 7252's. */
const registryOf = (code: number): ReadonlyMap<number, OptionDefinition> =>
  (isSignalCode(code) ? SIGNAL_OPTIONS.get(code) ?? new Map() : OPTIONS);

export function decodeFrame(bytes: Buffer): FramedMessage {
  if (bytes.length < 2) throw new FormatError(`WebSocket message of ${bytes.length} bytes is shorter than the 2-byte header`);
  const first = bytes[0]!;
  // §4.2: "the Length (Len) field MUST be set to zero".
  if (first >> 4 !== 0) throw new FormatError(`length nibble ${first >> 4}, must be 0 over WebSocket`);
  const tokenLength = first & 0xf;
  if (tokenLength > MAX_TOKEN_LENGTH) throw new FormatError(`reserved token length ${tokenLength}`);
  const code = bytes[1]!;
  const offset = 2 + tokenLength;
  if (offset > bytes.length) throw new FormatError(`token of ${tokenLength} bytes runs past the message`);
  const token = bytes.subarray(2, offset);
  const { options, payload } = decodeOptions(bytes, offset);
  return { code, token, options, payload };
}

export function encodeFrame(message: FramedMessage): Buffer {
  const { code, token, payload } = message;
  if (!(code >= 0 && code <= 0xff && Number.isInteger(code))) throw new FormatError(`code ${code} outside 0..255`);
  if (token.length > MAX_TOKEN_LENGTH) throw new FormatError(`token of ${token.length} bytes, at most 8`);
  const options = sortedOptions(message.options);
  const out = Buffer.allocUnsafe(2 + token.length + optionsSize(options, payload, registryOf(code)));
  out[0] = token.length;
  out[1] = code;
  writeOptions(out, 2 + token.copy(out, 2), options, payload);
  return out;
}

/** A signal with an optional diagnostic payload (§5: UTF-8, for people). */
export function signal(code: number, options: readonly CoapOption[] = [], diagnostic = '', token: Buffer = EMPTY_BUFFER): FramedMessage {
  return { code, token, options, payload: diagnostic === '' ? EMPTY_BUFFER : Buffer.from(diagnostic, 'utf8') };
}

/** The critical options of a signal its code does not define (§5.3: a CSM with one is
 * answered by Abort; other signals likewise, §5.1). Elective ones are ignored. */
export function unknownCriticalSignalOptions(message: FramedMessage): number[] {
  const registry = SIGNAL_OPTIONS.get(message.code);
  return message.options
    .filter((option) => (option.number & 1) === 1 && registry?.has(option.number) !== true)
    .map((option) => option.number);
}
