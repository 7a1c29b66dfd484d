// Command-line parsing for the coap-fleet subcommands: a typed flag table per command,
// `--name value`, `--name=value` and one-letter aliases, and the value checks the commands
// share (numbers in a range, HOST:PORT). No dependency: the grammar is small.

import { isIPv6 } from 'node:net';
import { UsageError } from './errors.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  /** A one-letter alias, without the dash. */
  readonly short?: string;
  /** The value's placeholder in the usage text ("SECONDS"). */
  readonly value?: string;
  readonly description: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The parsed flags, typed from the table: booleans for switches, strings for values. */
export type FlagValues<S extends FlagSpecs> = {
  -readonly [K in keyof S]?: S[K]['type'] extends 'boolean' ? boolean : string;
};

export interface ParsedArgs<S extends FlagSpecs> {
  readonly flags: FlagValues<S>;
  readonly positionals: readonly string[];
}

/** Splits argv into flags (by the table) and positionals. "-" is a positional (stdin);
 * after "--" everything is. A flag given twice is refused rather than silently merged. */
export function parseArgs<S extends FlagSpecs>(argv: readonly string[], specs: S): ParsedArgs<S> {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short !== undefined) byShort.set(spec.short, name);

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
      inline = equals === -1 ? undefined : arg.slice(equals + 1);
    } else {
      if (arg.length !== 2) throw new UsageError(`unknown option ${arg} (one-letter options cannot be combined)`);
      const long = byShort.get(arg.slice(1));
      if (long === undefined) throw new UsageError(`unknown option ${arg}`);
      name = long;
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    if (Object.hasOwn(flags, name)) throw new UsageError(`option --${name} given twice`);
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    if (inline !== undefined) {
      flags[name] = inline;
      continue;
    }
    // The next word is the value even when it starts with "-": `--file -`, `--payload -1`.
    const value = argv[i + 1];
    if (value === undefined) throw new UsageError(`option --${name} needs a value${spec.value === undefined ? '' : ` (${spec.value})`}`);
    flags[name] = value;
    i++;
  }
  return { flags: flags as FlagValues<S>, positionals };
}

/** The flag table as usage lines, aligned. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const long = `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    return [spec.short === undefined ? `    ${long}` : `-${spec.short}, ${long}`, spec.description] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, description]) => `  ${left.padEnd(width)}  ${description}\n`).join('');
}

export interface NumberRange {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
}

/** A decimal number from a flag, within its range, or a UsageError naming the flag. */
export function parseNumber(text: string, flag: string, range: NumberRange): number {
  const value = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text.trim()) ? Number(text) : Number.NaN;
  const kind = range.integer === true ? 'an integer' : 'a number';
  if (!Number.isFinite(value) || (range.integer === true && !Number.isInteger(value))
    || value < range.min || value > range.max) {
    throw new UsageError(`--${flag} must be ${kind} from ${range.min} to ${range.max}, not ${JSON.stringify(text)}`);
  }
  return value;
}

const SPAN_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** A span with its unit, "30s", "10m", "2h", "1d", in seconds; undefined when `text` is none. */
export function spanSeconds(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd])$/.exec(text);
  return match === null ? undefined : Number(match[1]) * SPAN_UNITS[match[2]!]!;
}

/** "127.0.0.1:5683", "[::1]:5683" or "localhost:5683"; IPv6 literals without brackets. */
export function parseHostPort(text: string, flag: string): { readonly host: string; readonly port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  if (match === null || host === undefined || (match[1] !== undefined && !isIPv6(match[1]))) {
    throw new UsageError(`--${flag} must be HOST:PORT (an IPv6 address in brackets), not ${JSON.stringify(text)}`);
  }
  return { host, port: parseNumber(match[3]!, flag, { min: 0, max: 0xffff, integer: true }) };
}
