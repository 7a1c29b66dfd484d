// CBOR (RFC 8949) for the app resources' Content-Format 60: the data model of JSON plus
// byte strings. Definite lengths only, preferred (shortest) serialisation; decoding is
// bounded in depth and never allocates more than the input promises.

import { CborError } from './errors.js';

export type CborValue = null | boolean | number | string | Uint8Array | CborValue[] | { [key: string]: CborValue };

const MAX_DEPTH = 32;

export function encodeCbor(value: unknown): Buffer {
  const parts: Buffer[] = [];
  write(value, parts, 0);
  return Buffer.concat(parts);
}

function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) {
    const out = Buffer.alloc(3);
    out[0] = (major << 5) | 25;
    out.writeUInt16BE(length, 1);
    return out;
  }
  if (length < 0x100000000) {
    const out = Buffer.alloc(5);
    out[0] = (major << 5) | 26;
    out.writeUInt32BE(length, 1);
    return out;
  }
  const out = Buffer.alloc(9);
  out[0] = (major << 5) | 27;
  out.writeBigUInt64BE(BigInt(length), 1);
  return out;
}

function write(value: unknown, parts: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new CborError('nesting too deep');
  if (value === null || value === undefined) parts.push(Buffer.from([0xf6]));
  else if (value === false) parts.push(Buffer.from([0xf4]));
  else if (value === true) parts.push(Buffer.from([0xf5]));
  else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) parts.push(value >= 0 ? head(0, value) : head(1, -1 - value));
    else {
      const out = Buffer.alloc(9);
      out[0] = 0xfb;
      out.writeDoubleBE(value, 1);
      parts.push(out);
    }
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    parts.push(head(3, bytes.length), bytes);
  } else if (value instanceof Uint8Array) {
    parts.push(head(2, value.length), Buffer.from(value));
  } else if (Array.isArray(value)) {
    parts.push(head(4, value.length));
    for (const item of value) write(item, parts, depth + 1);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    parts.push(head(5, entries.length));
    for (const [key, item] of entries) {
      write(key, parts, depth + 1);
      write(item, parts, depth + 1);
    }
  } else {
    throw new CborError(`cannot encode a ${typeof value}`);
  }
}

export function decodeCbor(bytes: Buffer): CborValue {
  const reader = { offset: 0 };
  const value = read(bytes, reader, 0);
  if (reader.offset !== bytes.length) throw new CborError(`${bytes.length - reader.offset} bytes after the data item`);
  return value;
}

function need(bytes: Buffer, reader: { offset: number }, count: number): void {
  if (reader.offset + count > bytes.length) throw new CborError('truncated');
}

function argument(bytes: Buffer, reader: { offset: number }, info: number): number {
  if (info < 24) return info;
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (size === 0) throw new CborError(info === 31 ? 'indefinite lengths are not supported' : `reserved additional info ${info}`);
  need(bytes, reader, size);
  const at = reader.offset;
  reader.offset += size;
  if (size === 8) {
    const big = bytes.readBigUInt64BE(at);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError('integer beyond 2^53');
    return Number(big);
  }
  return bytes.readUIntBE(at, size);
}

function read(bytes: Buffer, reader: { offset: number }, depth: number): CborValue {
  if (depth > MAX_DEPTH) throw new CborError('nesting too deep');
  need(bytes, reader, 1);
  const initial = bytes[reader.offset++]!;
  const major = initial >> 5;
  const info = initial & 0x1f;
  switch (major) {
    case 0:
      return argument(bytes, reader, info);
    case 1:
      return -1 - argument(bytes, reader, info);
    case 2:
    case 3: {
      const length = argument(bytes, reader, info);
      need(bytes, reader, length);
      const slice = bytes.subarray(reader.offset, reader.offset + length);
      reader.offset += length;
      return major === 2 ? Buffer.from(slice) : slice.toString('utf8');
    }
    case 4: {
      const length = argument(bytes, reader, info);
      // Each item takes at least one byte: a length past the input is a lie, not a loop.
      need(bytes, reader, length);
      const items: CborValue[] = [];
      for (let i = 0; i < length; i++) items.push(read(bytes, reader, depth + 1));
      return items;
    }
    case 5: {
      const length = argument(bytes, reader, info);
      need(bytes, reader, length * 2);
      const map: { [key: string]: CborValue } = {};
      for (let i = 0; i < length; i++) {
        const key = read(bytes, reader, depth + 1);
        if (typeof key !== 'string' && typeof key !== 'number') throw new CborError('map keys must be text or integers');
        Object.defineProperty(map, String(key), { value: read(bytes, reader, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return map;
    }
    case 6:
      argument(bytes, reader, info);
      return read(bytes, reader, depth + 1);
    default:
      return simple(bytes, reader, info);
  }
}

function simple(bytes: Buffer, reader: { offset: number }, info: number): CborValue {
  switch (info) {
    case 20: return false;
    case 21: return true;
    case 22:
    case 23: return null;
    case 25: {
      need(bytes, reader, 2);
      const half = bytes.readUInt16BE(reader.offset);
      reader.offset += 2;
      const exponent = (half >> 10) & 0x1f;
      const fraction = half & 0x3ff;
      const magnitude = exponent === 0 ? fraction * 2 ** -24 : exponent === 31 ? (fraction === 0 ? Infinity : NaN) : (fraction + 1024) * 2 ** (exponent - 25);
      return half & 0x8000 ? -magnitude : magnitude;
    }
    case 26: {
      need(bytes, reader, 4);
      const value = bytes.readFloatBE(reader.offset);
      reader.offset += 4;
      return value;
    }
    case 27: {
      need(bytes, reader, 8);
      const value = bytes.readDoubleBE(reader.offset);
      reader.offset += 8;
      return value;
    }
    default:
      throw new CborError(`unsupported simple value ${info}`);
  }
}
