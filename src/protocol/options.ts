// The option registry and option values: RFC 7252 §3.1-§3.2 (value formats, minimal
// unsigned integers), §5.4 (critical / unsafe / no-cache-key from the number, unrecognised
// and repeated options), §5.10 (the table); plus Observe (RFC 7641), Block1/Block2/Size2
// (RFC 7959), No-Response (RFC 7967), Echo/Request-Tag (RFC 9175), Q-Block1/Q-Block2
// (RFC 9177), OSCORE (RFC 8613) and Hop-Limit (RFC 8768).

export interface CoapOption {
  readonly number: number;
  readonly value: Buffer;
}

/** An option as decoded: number and the position of its value in the datagram. The value
 * view is made only when asked for, and the common readers below never ask: views cost
 * more than the rest of decoding together. */
export class WireOption implements CoapOption {
  readonly number: number;
  readonly source: Buffer;
  readonly start: number;
  readonly end: number;
  #value: Buffer | undefined;

  constructor(number: number, source: Buffer, start: number, end: number) {
    this.number = number;
    this.source = source;
    this.start = start;
    this.end = end;
  }

  get value(): Buffer {
    return (this.#value ??= this.source.subarray(this.start, this.end));
  }
}

export type OptionFormat = 'empty' | 'opaque' | 'uint' | 'string';

export interface OptionDefinition {
  readonly number: number;
  readonly name: string;
  readonly format: OptionFormat;
  readonly minLength: number;
  readonly maxLength: number;
  readonly repeatable: boolean;
}

export const OptionNumber = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  LocationPath: 8,
  Oscore: 9,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  HopLimit: 16,
  Accept: 17,
  QBlock1: 19,
  LocationQuery: 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  QBlock2: 31,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
  Echo: 252,
  NoResponse: 258,
  RequestTag: 292,
} as const;

const define = (
  number: number, name: string, format: OptionFormat, minLength: number, maxLength: number, repeatable = false,
): OptionDefinition => ({ number, name, format, minLength, maxLength, repeatable });

/** Every option this stack knows, by number. Lengths are in bytes of the encoded value. */
export const OPTIONS: ReadonlyMap<number, OptionDefinition> = new Map(
  [
    define(1, 'If-Match', 'opaque', 0, 8, true),
    define(3, 'Uri-Host', 'string', 1, 255),
    define(4, 'ETag', 'opaque', 1, 8, true),
    define(5, 'If-None-Match', 'empty', 0, 0),
    define(6, 'Observe', 'uint', 0, 3),
    define(7, 'Uri-Port', 'uint', 0, 2),
    define(8, 'Location-Path', 'string', 0, 255, true),
    define(9, 'OSCORE', 'opaque', 0, 255),
    define(11, 'Uri-Path', 'string', 0, 255, true),
    define(12, 'Content-Format', 'uint', 0, 2),
    define(14, 'Max-Age', 'uint', 0, 4),
    define(15, 'Uri-Query', 'string', 0, 255, true),
    define(16, 'Hop-Limit', 'uint', 1, 1),
    define(17, 'Accept', 'uint', 0, 2),
    define(19, 'Q-Block1', 'uint', 0, 3),
    define(20, 'Location-Query', 'string', 0, 255, true),
    define(23, 'Block2', 'uint', 0, 3),
    define(27, 'Block1', 'uint', 0, 3),
    define(28, 'Size2', 'uint', 0, 4),
    define(31, 'Q-Block2', 'uint', 0, 3, true),
    define(35, 'Proxy-Uri', 'string', 1, 1034),
    define(39, 'Proxy-Scheme', 'string', 1, 255),
    define(60, 'Size1', 'uint', 0, 4),
    define(252, 'Echo', 'opaque', 1, 40),
    define(258, 'No-Response', 'uint', 0, 1),
    define(292, 'Request-Tag', 'opaque', 0, 8, true),
  ].map((definition) => [definition.number, definition]),
);

// §5.4.6: the properties are encoded in the option number itself.
export const isCritical = (number: number): boolean => (number & 1) === 1;
export const isUnsafe = (number: number): boolean => (number & 2) === 2;
export const isNoCacheKey = (number: number): boolean => (number & 0x1e) === 0x1c;

export const optionName = (number: number): string => OPTIONS.get(number)?.name ?? `Option-${number}`;

/** Largest value a uint option of up to 4 bytes can carry. */
export const MAX_UINT_OPTION = 0xffffffff;

/** A non-negative integer in the fewest bytes, zero as the empty string (§3.2). */
export function encodeUint(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > MAX_UINT_OPTION) {
    throw new RangeError(`uint option value out of range: ${value}`);
  }
  if (value === 0) return Buffer.alloc(0);
  const length = value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
  const bytes = Buffer.allocUnsafe(length);
  bytes.writeUIntBE(value, 0, length);
  return bytes;
}

/** Reads a uint option value; a sender may have used leading zeros, which §3.2 allows us
 * to accept. Values longer than 4 bytes keep only what fits a double exactly. */
export function decodeUint(value: Uint8Array): number {
  let result = 0;
  for (let i = 0; i < value.length; i++) result = result * 256 + value[i]!;
  return result;
}

export const uintOption = (number: number, value: number): CoapOption => ({ number, value: encodeUint(value) });
export const stringOption = (number: number, value: string): CoapOption => ({ number, value: Buffer.from(value, 'utf8') });
export const opaqueOption = (number: number, value: Buffer): CoapOption => ({ number, value });

/** The value of the first instance of an option, or undefined. */
export function getOption(options: readonly CoapOption[], number: number): Buffer | undefined {
  for (const option of options) if (option.number === number) return option.value;
  return undefined;
}

export function getOptions(options: readonly CoapOption[], number: number): Buffer[] {
  const values: Buffer[] = [];
  for (const option of options) if (option.number === number) values.push(option.value);
  return values;
}

export function hasOption(options: readonly CoapOption[], number: number): boolean {
  for (const option of options) if (option.number === number) return true;
  return false;
}

/** The encoded length of an option's value, without making a view of it. */
export const valueLength = (option: CoapOption): number =>
  (option instanceof WireOption ? option.end - option.start : option.value.length);

function readUint(option: CoapOption): number {
  if (!(option instanceof WireOption)) return decodeUint(option.value);
  let result = 0;
  for (let i = option.start; i < option.end; i++) result = result * 256 + option.source[i]!;
  return result;
}

const readString = (option: CoapOption): string =>
  (option instanceof WireOption ? option.source.toString('utf8', option.start, option.end) : option.value.toString('utf8'));

export function getUintOption(options: readonly CoapOption[], number: number): number | undefined {
  for (const option of options) if (option.number === number) return readUint(option);
  return undefined;
}

export function getStringOption(options: readonly CoapOption[], number: number): string | undefined {
  for (const option of options) if (option.number === number) return readString(option);
  return undefined;
}

export function getStringOptions(options: readonly CoapOption[], number: number): string[] {
  const values: string[] = [];
  for (const option of options) if (option.number === number) values.push(readString(option));
  return values;
}

/** Options minus every instance of `number`, plus `replacement` instances if given. */
export function withOption(options: readonly CoapOption[], number: number, ...replacement: CoapOption[]): CoapOption[] {
  return [...options.filter((option) => option.number !== number), ...replacement];
}

/** Whether an option instance fits its definition's length bounds; unknown options fit. */
export function hasValidLength(option: CoapOption): boolean {
  const definition = OPTIONS.get(option.number);
  if (definition === undefined) return true;
  const length = valueLength(option);
  return length >= definition.minLength && length <= definition.maxLength;
}

/**
 * The critical options a receiver must reject the message for (answer 4.02 to a request):
 * critical options it does not recognise (§5.4.1), critical options whose length is out of
 * bounds, which count as unrecognised (§5.4.3), and repeated critical options that are not
 * repeatable (§5.4.5). `recognised` says which known options the receiver implements;
 * by default, all of the registry.
 */
export function findBadCriticalOptions(
  options: readonly CoapOption[],
  recognised: (number: number) => boolean = (number) => OPTIONS.has(number),
): number[] {
  const bad: number[] = [];
  let previous = -1;
  for (const option of options) {
    if (!isCritical(option.number)) {
      previous = option.number;
      continue;
    }
    const definition = OPTIONS.get(option.number);
    const repeatedIllegally = option.number === previous && definition !== undefined && !definition.repeatable;
    if (!recognised(option.number) || !hasValidLength(option) || repeatedIllegally) {
      if (!bad.includes(option.number)) bad.push(option.number);
    }
    previous = option.number;
  }
  return bad;
}

/** A readable form of an option value, by its registered format: for logs and the CLI. */
export function formatOptionValue(option: CoapOption): string {
  switch (OPTIONS.get(option.number)?.format) {
    case 'uint':
      return String(decodeUint(option.value));
    case 'string':
      return option.value.toString('utf8');
    case 'empty':
      return '';
    case 'opaque':
    case undefined:
      return `0x${option.value.toString('hex')}`;
  }
}
