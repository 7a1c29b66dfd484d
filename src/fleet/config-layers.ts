// How both daemons read their configuration (DESIGN §8): a JSON file, overridden by the
// daemon's own overlay (settings changed at run time, kept in its data directory),
// overridden by the environment (COAP_FLEET_<DAEMON>_<KEY>), overridden by flags
// (--key-with-dashes); every
// value checked against the daemon's field table and every problem named at once, with
// where it came from and what is allowed. Earlier spellings of a setting still work, with
// one deprecation warning each, so a config written for an older release keeps starting.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** text: a non-empty string; path: resolved against its source's folder; host: an IP
 * address or host name; address: an IP address; choice: one of `choices`; list and paths:
 * a JSON array of strings in the file, comma-separated in the environment and flags, each
 * item a text (checked by `check`) or a path; durations carry their unit in the key
 * (`_s`, `_ms`), and so does a plain number (`_percent`, `_c`). */
export type FieldKind = 'text' | 'path' | 'host' | 'address' | 'port' | 'boolean' | 'seconds' | 'milliseconds' | 'count' | 'number' | 'choice' | 'list' | 'paths';

export interface Field {
  readonly kind: FieldKind;
  readonly description: string;
  /** The value's placeholder in usage texts ("SECONDS"); a boolean without one is a switch. */
  readonly value?: string;
  readonly default?: string | number | boolean | null | readonly string[];
  readonly required?: boolean;
  /** "Off" is a value of its own: null in the file, `off` or `none` in the environment and flags. */
  readonly canBeOff?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** A rule of the daemon's beyond the kind, for text and each item of a list: what is
   * allowed when the value breaks it. */
  readonly check?: (value: string) => string | undefined;
  /** Earlier names of the setting: still read, with a deprecation warning. */
  readonly deprecated?: readonly string[];
}

export type FieldTable = Readonly<Record<string, Field>>;

export interface ConfigLayout<T extends FieldTable> {
  readonly fields: T;
  /** `COAP_FLEET_AGENT_`: a setting's variable is the prefix and its key in capitals;
   * `<prefix>CONFIG` names the config file. */
  readonly envPrefix: string;
  /** Earlier prefixes (the gateway's `COAP_FLEET_`), read with a deprecation warning. */
  readonly deprecatedEnvPrefixes?: readonly string[];
}

export interface LayerSources {
  /** The config file from the command line; else `<prefix>CONFIG` from the environment. */
  readonly file?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Flag values by the key as spelled on the command line, with underscores
   * (`health_interval_s` for --health-interval-s); true for a switch. */
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  /** Relative paths from the environment and flags are taken from here. */
  readonly cwd: string;
  /** Settings changed remotely and persisted by the daemon (the agent's PUT /system/config):
   * above the file, below the environment and flags. `from` names it in problems. */
  readonly overlay?: { readonly values: Readonly<Record<string, unknown>>; readonly from: string; readonly base: string };
}

type KindValue<F extends Field> = F['kind'] extends 'boolean' ? boolean
  : F['kind'] extends 'port' | 'seconds' | 'milliseconds' | 'count' | 'number' ? number
    : F['kind'] extends 'list' | 'paths' ? readonly string[] : string;

/** Each setting's value: its kind's type, null when it can be off, undefined when it has
 * no default and was not given (or was wrong: then there is a problem too). */
export type FieldValues<T extends FieldTable> = {
  -readonly [K in keyof T]: KindValue<T[K]>
    | (T[K] extends { canBeOff: true } ? null : never)
    | (T[K] extends { default: infer D } ? (D extends null ? null : never) : undefined);
};

export interface Layered<T extends FieldTable> {
  readonly values: FieldValues<T>;
  /** Every mistake, one line each; empty when the configuration is good so far. */
  readonly problems: string[];
  /** One line per setting given in an earlier spelling. */
  readonly deprecations: readonly string[];
  /** The settings the environment or a flag gives (any spelling): a change at run time kept
   * in the overlay would lose to them at the next start, so a daemon refuses it. */
  readonly fixed: readonly string[];
}

export const flagName = (key: string): string => key.replace(/_/g, '-');
export const envName = (prefix: string, key: string): string => `${prefix}${key.toUpperCase()}`;

/** One spelling of a setting, in one source. */
interface Spelling {
  readonly shown: string;
  readonly current: boolean;
  readonly value: unknown;
}

interface Given {
  readonly value: unknown;
  readonly from: string;
  /** Relative paths are relative to this: the config file's folder, else the cwd. */
  readonly base: string;
}

/** Reads the file, the environment and the flags into checked values. Throws nothing:
 * the caller adds its own checks to `problems` and throws its own typed error. */
export function loadLayers<T extends FieldTable>(layout: ConfigLayout<T>, sources: LayerSources): Layered<T> {
  const problems: string[] = [];
  const deprecated = new Map<string, { old: string[]; current: string[] }>();
  const keys = Object.keys(layout.fields);
  const prefixes = [layout.envPrefix, ...(layout.deprecatedEnvPrefixes ?? [])];
  /** A setting's key and its earlier names. */
  const names = (key: string): string[] => [key, ...(layout.fields[key]?.deprecated ?? [])];
  /** The one spelling given in a source, or a problem when a setting is given twice there. */
  const pick = (setting: string, spellings: readonly Spelling[], currentShown: string): Spelling | undefined => {
    if (spellings.length > 1) {
      problems.push(`${setting}: ${spellings.map((spelling) => `\`${spelling.shown}\``).join(' and ')} are the same setting: keep only \`${currentShown}\``);
      return undefined;
    }
    const [spelling] = spellings;
    if (spelling !== undefined && !spelling.current) {
      const entry = deprecated.get(setting) ?? { old: [], current: [] };
      if (!entry.old.includes(spelling.shown)) entry.old.push(spelling.shown);
      if (!entry.current.includes(currentShown)) entry.current.push(currentShown);
      deprecated.set(setting, entry);
    }
    return spelling;
  };
  const envSpellings = (name: string, current: string): Spelling[] => prefixes
    .flatMap((prefix) => names(name).map((spelled) => ({ prefix, spelled })))
    .map(({ prefix, spelled }) => ({ shown: envName(prefix, spelled), current: envName(prefix, spelled) === current, value: sources.env[envName(prefix, spelled)] }))
    .filter((spelling) => spelling.value !== undefined && spelling.value !== '');

  const given = new Map<string, Given>();
  const configFromEnv = pick('config', envSpellings('config', envName(layout.envPrefix, 'config')), envName(layout.envPrefix, 'config'));
  const fileName = sources.file ?? (configFromEnv?.value as string | undefined);
  if (fileName !== undefined && fileName !== '') {
    const path = resolve(sources.cwd, fileName);
    const content = readConfigFile(path);
    // Nothing else is worth saying about settings the file may hold.
    if (typeof content === 'string') return { values: {} as FieldValues<T>, problems: [content], deprecations: warnings(deprecated), fixed: [] };
    const known = new Set(keys.flatMap(names));
    for (const name of Object.keys(content).filter((name) => !known.has(name))) {
      problems.push(`unknown setting ${JSON.stringify(name)} in ${path}; known: ${keys.join(', ')}`);
    }
    for (const key of keys) {
      const spellings = names(key).filter((name) => Object.hasOwn(content, name))
        .map((name) => ({ shown: name, current: name === key, value: content[name] }));
      const spelling = pick(key, spellings, key);
      if (spelling !== undefined) given.set(key, { value: spelling.value, from: spelling.current ? path : `${path}, as ${spelling.shown}`, base: dirname(path) });
    }
  }
  const { overlay } = sources;
  if (overlay !== undefined) {
    for (const [key, value] of Object.entries(overlay.values)) {
      if (Object.hasOwn(layout.fields, key)) given.set(key, { value, from: overlay.from, base: overlay.base });
      else problems.push(`unknown setting ${JSON.stringify(key)} in ${overlay.from}`);
    }
  }
  const fixed = new Set<string>();
  for (const key of keys) {
    const spellings = envSpellings(key, envName(layout.envPrefix, key));
    if (spellings.length > 0) fixed.add(key);
    const spelling = pick(key, spellings, envName(layout.envPrefix, key));
    if (spelling !== undefined) given.set(key, { value: spelling.value, from: spelling.shown, base: sources.cwd });
  }
  for (const key of keys) {
    const spellings = names(key).filter((name) => sources.flags[name] !== undefined)
      .map((name) => ({ shown: `--${flagName(name)}`, current: name === key, value: sources.flags[name] }));
    if (spellings.length > 0) fixed.add(key);
    const spelling = pick(key, spellings, `--${flagName(key)}`);
    if (spelling !== undefined) given.set(key, { value: spelling.value, from: spelling.shown, base: sources.cwd });
  }

  const values: Record<string, unknown> = {};
  for (const key of keys) {
    const field = layout.fields[key]!;
    const setting = given.get(key);
    // null in the file, for a setting that cannot be off, means "not set".
    if (setting === undefined || (setting.value === null && field.canBeOff !== true)) {
      values[key] = field.default;
      if (field.required === true) {
        problems.push(`${key}: required (--${flagName(key)}, ${envName(layout.envPrefix, key)} or "${key}" in the config file)`);
      }
      continue;
    }
    const parsed = parseValue(field, setting);
    if ('allowed' in parsed) {
      problems.push(`${key} (from ${setting.from}) must be ${parsed.allowed}, not ${JSON.stringify(setting.value)}`);
      values[key] = field.required === true ? undefined : field.default;
    } else {
      values[key] = parsed.value;
    }
  }
  return { values: values as FieldValues<T>, problems, deprecations: warnings(deprecated), fixed: [...fixed] };
}

/** The file's settings, or what is wrong with it. */
function readConfigFile(path: string): Record<string, unknown> | string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return `cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `the config file ${path} is not valid JSON: ${(error as Error).message}`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return `the config file ${path} must hold a JSON object`;
  return parsed as Record<string, unknown>;
}

const warnings = (deprecated: ReadonlyMap<string, { old: string[]; current: string[] }>): string[] => [...deprecated.values()]
  .map(({ old, current }) => `config: ${old.map((name) => `\`${name}\``).join(', ')} ${old.length === 1 ? 'is' : 'are'} deprecated, use ${current.map((name) => `\`${name}\``).join(', ')}`);

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)$/;

/** What a field allows, for the problem line. */
function allowed(field: Field): string {
  const range = `from ${field.min ?? 0} to ${field.max ?? Number.MAX_SAFE_INTEGER}`;
  const off = field.canBeOff === true ? ' or "off"' : '';
  switch (field.kind) {
    case 'text': return 'a non-empty string';
    case 'path': return `a file or directory path${off}`;
    case 'host': return `an IP address or host name${off}`;
    case 'address': return `an IPv4 or IPv6 address${off}`;
    case 'port': return `a UDP port 0..65535${off}`;
    case 'boolean': return 'true or false';
    case 'seconds': return `seconds ${range}${off}`;
    case 'milliseconds': return `whole milliseconds ${range}${off}`;
    case 'count': return `a whole number ${range}${off}`;
    case 'number': return `a number ${range}${off}`;
    case 'choice': return `one of ${(field.choices ?? []).join(', ')}`;
    case 'list': return `a list of at most ${field.max ?? MAX_LIST_ITEMS} non-empty strings (a JSON array, or comma-separated)`;
    case 'paths': return `a list of at most ${field.max ?? MAX_LIST_ITEMS} file paths (a JSON array, or comma-separated)`;
  }
}

/** A list's bound when its field names none: a config is not a data set. */
const MAX_LIST_ITEMS = 256;

/** A list field's items, or what is allowed: a JSON array of strings, or one string of
 * comma-separated items (environment, flags); blanks around items are dropped. */
function parseList(field: Field, value: unknown): { value: unknown } | { allowed: string } {
  // A trailing or doubled comma in a typed list is a slip, not an empty item.
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').filter((item) => item.trim() !== '') : undefined;
  if (items === undefined || items.length > (field.max ?? MAX_LIST_ITEMS)) return { allowed: allowed(field) };
  const strings: string[] = [];
  for (const item of items) {
    const text = typeof item === 'string' ? item.trim() : '';
    if (text === '') return { allowed: allowed(field) };
    const broken = field.check?.(text);
    if (broken !== undefined) return { allowed: `${broken} (${JSON.stringify(text)})` };
    strings.push(text);
  }
  return { value: strings };
}

/** One setting's checked value (a path resolved against `base`), or what is allowed: the
 * loader's own rules, for a daemon that takes a setting at run time. */
export function checkSetting(field: Field, value: unknown, base: string): { value: unknown } | { allowed: string } {
  return parseValue(field, { value, from: '', base });
}

/** The checked value, or what is allowed. */
function parseValue(field: Field, setting: Given): { value: unknown } | { allowed: string } {
  const { value } = setting;
  const text = typeof value === 'string' ? (field.kind === 'text' ? value : value.trim()) : undefined;
  const fail = (what = allowed(field)): { allowed: string } => ({ allowed: what });
  const ok = (checked: unknown): { value: unknown } => ({ value: checked });
  if (field.canBeOff === true && (value === null || text === 'off' || text === 'none')) return ok(null);
  const number = typeof value === 'number' ? value : text !== undefined && NUMBER.test(text) ? Number(text) : undefined;
  const inRange = (integer: boolean): boolean => number !== undefined && Number.isFinite(number) && (!integer || Number.isInteger(number))
    && number >= (field.min ?? 0) && number <= (field.max ?? Number.MAX_SAFE_INTEGER);
  switch (field.kind) {
    case 'text': {
      if (text === undefined || text.trim() === '') return fail();
      const broken = field.check?.(text);
      return broken === undefined ? ok(text) : fail(broken);
    }
    case 'path':
      return text === undefined || text === '' ? fail() : ok(resolve(setting.base, text));
    case 'host':
      return text === undefined || (isIP(text) === 0 && !HOSTNAME.test(text)) ? fail() : ok(text);
    case 'address':
      return text === undefined || isIP(text) === 0 ? fail() : ok(text);
    case 'port':
      return number === undefined || !Number.isInteger(number) || number < 0 || number > 0xffff ? fail() : ok(number);
    case 'boolean':
      if (typeof value === 'boolean') return ok(value);
      if (text !== undefined && ['true', '1', 'yes', 'on'].includes(text.toLowerCase())) return ok(true);
      if (text !== undefined && ['false', '0', 'no', 'off'].includes(text.toLowerCase())) return ok(false);
      return fail();
    case 'seconds':
    case 'number':
      return inRange(false) ? ok(number) : fail();
    case 'milliseconds':
    case 'count':
      return inRange(true) ? ok(number) : fail();
    case 'choice':
      return text !== undefined && (field.choices ?? []).includes(text) ? ok(text) : fail();
    case 'list':
      return parseList(field, value);
    case 'paths': {
      const parsed = parseList(field, value);
      return 'value' in parsed ? ok((parsed.value as string[]).map((item) => resolve(setting.base, item))) : parsed;
    }
  }
}

/** The usage line of a field: its description and, when it has one, the default. */
export const describeField = (field: Field): string => (field.default === undefined || field.default === null || field.kind === 'boolean'
  || (Array.isArray(field.default) && field.default.length === 0)
  ? field.description : `${field.description} (default ${String(field.default)})`);
