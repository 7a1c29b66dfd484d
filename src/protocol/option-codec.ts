// The part of a CoAP message after the token, shared by every framing: options in delta
// encoding, then 0xFF and the payload (RFC 7252 §3.1). The UDP header (codec.ts) and the
// reliable transports' header (RFC 8323 §3.2, §4.2: ws-framing.ts) both wrap it. Pure;
// decoding throws a FormatError and nothing else, and makes views into the input.

import { FormatError, type PartialHeader } from './errors.js';
import { EMPTY_BUFFER } from './message.js';
import { OPTIONS, WireOption, type CoapOption } from './options.js';

const PAYLOAD_MARKER = 0xff;
export const MAX_TOKEN_LENGTH = 8;
const MAX_OPTION_NUMBER = 0xffff;
// §3.1: 13 and 14 take one and two extended bytes; 15 is reserved (the payload marker).
const EXTENDED_1 = 13;
const EXTENDED_2 = 14;
const MAX_OPTION_LENGTH = 0xffff + 269;

export interface OptionsAndPayload {
  readonly options: CoapOption[];
  readonly payload: Buffer;
}

/** Options and payload from `offset` to the end of `bytes`. */
export function decodeOptions(bytes: Buffer, offset: number, header?: PartialHeader): OptionsAndPayload {
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
  return { options, payload };
}

/** Options in ascending number order (§3.1); the sort is stable, so repeated options keep
 * the order the caller gave them. */
export function sortedOptions(options: readonly CoapOption[]): readonly CoapOption[] {
  return isSorted(options) ? options : [...options].sort((a, b) => a.number - b.number);
}

/** Bytes the sorted `options` and `payload` take; checks each option (`registry`: whose
 * length bounds apply, by default the RFC 7252 registry; signaling messages have their
 * own option numbers, RFC 8323 §5.2). */
export function optionsSize(options: readonly CoapOption[], payload: Buffer, registry: ReadonlyMap<number, { minLength: number; maxLength: number; name: string }> = OPTIONS): number {
  let size = 0;
  let previous = 0;
  for (const option of options) {
    checkOption(option, registry);
    const delta = option.number - previous;
    size += 1 + extendedSize(delta) + extendedSize(option.value.length) + option.value.length;
    previous = option.number;
  }
  if (payload.length > 0) size += 1 + payload.length;
  return size;
}

/** Writes the sorted `options` and `payload` at `offset` of `out`; returns the end. */
export function writeOptions(out: Buffer, offset: number, options: readonly CoapOption[], payload: Buffer): number {
  let previous = 0;
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
    offset += payload.copy(out, offset);
  }
  return offset;
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

function checkOption(option: CoapOption, registry: ReadonlyMap<number, { minLength: number; maxLength: number; name: string }>): void {
  const { number, value } = option;
  if (!Number.isInteger(number) || number < 0 || number > MAX_OPTION_NUMBER) {
    throw new FormatError(`option number ${number} outside 0..65535`);
  }
  const definition = registry.get(number);
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
