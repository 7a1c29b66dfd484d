// The gateway's configuration (DESIGN §8): a JSON file, overridden by COAP_FLEET_* environment
// variables, overridden by command-line flags; every value checked at start, and a mistake
// reported as one ConfigError naming the setting, where it came from and what is allowed.

import { access, constants, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { isLoopback } from '../fleet/identity.js';
import { ConfigError } from './errors.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The settings, named as in the config file. */
export interface GatewayConfig {
  /** LMDB state and the firmware store live here. */
  readonly data_dir: string;
  /** Plain CoAP: address and port (0 for an ephemeral one), or no plain endpoint (null). */
  readonly host: string;
  readonly port: number | null;
  /** CoAP over DTLS (null: none); credentials: a PSK file, or certificate, key and CA. */
  readonly dtls_host: string;
  readonly dtls_port: number | null;
  readonly psk_file: string | null;
  readonly cert_file: string | null;
  readonly key_file: string | null;
  readonly ca_file: string | null;
  /** Plain CoAP from loopback is the `local` administrator; default: when `host` is loopback. */
  readonly allow_local_plain: boolean;
  /** The publisher's Ed25519 public key (PEM): POST /updates then refuses manifests it did not sign. */
  readonly publisher_key_file: string | null;
  /** What nodes are told to report at; offline after `offline_after_intervals` without a word. */
  readonly health_interval_s: number;
  readonly offline_after_intervals: number;
  readonly audit_max_entries: number;
  /** How long a stop waits for running requests. */
  readonly shutdown_grace_ms: number;
  readonly log_level: LogLevel;
  readonly pretty: boolean;
  /** Written once listening: {"coap_port", "coaps_port"}; removed at stop. */
  readonly ready_file: string | null;
}

type Kind = 'path' | 'optional-path' | 'host' | 'port' | 'optional-port' | 'boolean' | 'seconds' | 'count' | 'milliseconds' | 'log-level';

/** Every setting: its kind and, when it has one, the default. `allow_local_plain` defaults
 * from `host`; `data_dir` has none. */
const FIELDS: Readonly<Record<keyof GatewayConfig, { kind: Kind; default?: unknown }>> = {
  data_dir: { kind: 'path' },
  host: { kind: 'host', default: '127.0.0.1' },
  port: { kind: 'optional-port', default: 5683 },
  dtls_host: { kind: 'host' },
  dtls_port: { kind: 'optional-port', default: null },
  psk_file: { kind: 'optional-path', default: null },
  cert_file: { kind: 'optional-path', default: null },
  key_file: { kind: 'optional-path', default: null },
  ca_file: { kind: 'optional-path', default: null },
  allow_local_plain: { kind: 'boolean' },
  publisher_key_file: { kind: 'optional-path', default: null },
  health_interval_s: { kind: 'seconds', default: 30 },
  offline_after_intervals: { kind: 'count', default: 3 },
  audit_max_entries: { kind: 'count', default: 10_000 },
  shutdown_grace_ms: { kind: 'milliseconds', default: 5_000 },
  log_level: { kind: 'log-level', default: 'info' },
  pretty: { kind: 'boolean', default: false },
  ready_file: { kind: 'optional-path', default: null },
};

export const CONFIG_KEYS = Object.keys(FIELDS) as (keyof GatewayConfig)[];
export const envName = (key: string): string => `COAP_FLEET_${key.toUpperCase()}`;
export const flagName = (key: string): string => key.replace(/_/g, '-');

interface Setting {
  readonly value: unknown;
  /** "--port", "COAP_FLEET_PORT" or "/etc/coap-fleet/gateway.json". */
  readonly from: string;
  /** Relative paths are relative to this: the config file's folder, else the cwd. */
  readonly base: string;
}

export interface ConfigSources {
  /** Flag values by config key (`--data-dir` as data_dir); booleans for switches. */
  readonly flags: Readonly<Partial<Record<keyof GatewayConfig, string | boolean>>>;
  /** The config file (`--config`, else COAP_FLEET_CONFIG), if any. */
  readonly file?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** The configuration from its three sources, or a ConfigError. Reads only the config file. */
export async function loadConfig(sources: ConfigSources): Promise<GatewayConfig> {
  const settings = new Map<keyof GatewayConfig, Setting>();
  const fileName = sources.file ?? sources.env.COAP_FLEET_CONFIG;
  if (fileName !== undefined && fileName !== '') {
    const path = resolve(sources.cwd, fileName);
    for (const [key, value] of Object.entries(await readConfigFile(path))) settings.set(key as keyof GatewayConfig, { value, from: path, base: dirname(path) });
  }
  for (const key of CONFIG_KEYS) {
    const value = sources.env[envName(key)];
    if (value !== undefined && value !== '') settings.set(key, { value, from: envName(key), base: sources.cwd });
  }
  for (const key of CONFIG_KEYS) {
    const value = sources.flags[key];
    if (value !== undefined) settings.set(key, { value, from: `--${flagName(key)}`, base: sources.cwd });
  }
  const values: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const setting = settings.get(key);
    values[key] = setting === undefined ? FIELDS[key].default : parseValue(key, FIELDS[key].kind, setting);
  }
  if (values.data_dir === undefined) {
    throw new ConfigError(`data_dir is required: --data-dir DIR, ${envName('data_dir')} or "data_dir" in the config file`);
  }
  values.dtls_host ??= values.host;
  values.allow_local_plain ??= isLoopback(values.host as string) || values.host === 'localhost';
  const config = values as unknown as GatewayConfig;
  await checkConsistency(config);
  return config;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`the config file ${path} must hold a JSON object`);
  const unknown = Object.keys(parsed).filter((key) => !Object.hasOwn(FIELDS, key));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown setting ${JSON.stringify(unknown[0])} in ${path}; known: ${CONFIG_KEYS.join(', ')}`);
  }
  return parsed as Record<string, unknown>;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function parseValue(key: string, kind: Kind, setting: Setting): unknown {
  const { value, from } = setting;
  const fail = (expected: string): never => {
    throw new ConfigError(`${key} (from ${from}) must be ${expected}, not ${JSON.stringify(value)}`);
  };
  const text = typeof value === 'string' ? value.trim() : undefined;
  const number = typeof value === 'number' ? value : text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
  const isNone = value === null || text === 'off' || text === 'none';
  switch (kind) {
    case 'path':
    case 'optional-path':
      if (kind === 'optional-path' && isNone) return null;
      if (text === undefined || text === '') return fail('a file or directory path');
      return resolve(setting.base, text);
    case 'host':
      if (text === undefined || (isIP(text) === 0 && !HOSTNAME.test(text))) return fail('an IP address or host name');
      return text;
    case 'port':
    case 'optional-port':
      if (kind === 'optional-port' && isNone) return null;
      if (number === undefined || !Number.isInteger(number) || number < 0 || number > 0xffff) return fail(`a UDP port 0..65535${kind === 'optional-port' ? ' or "off"' : ''}`);
      return number;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (text !== undefined && ['true', '1', 'yes', 'on'].includes(text.toLowerCase())) return true;
      if (text !== undefined && ['false', '0', 'no', 'off'].includes(text.toLowerCase())) return false;
      return fail('true or false');
    case 'seconds':
      if (number === undefined || number <= 0 || number > 86_400) return fail('seconds, more than 0 and at most 86400');
      return number;
    case 'milliseconds':
      if (number === undefined || !Number.isInteger(number) || number < 0 || number > 600_000) return fail('milliseconds, 0..600000');
      return number;
    case 'count':
      if (number === undefined || !Number.isInteger(number) || number < 1 || number > 1e9) return fail('a whole number of at least 1');
      return number;
    case 'log-level':
      if (text === undefined || !(LOG_LEVELS as readonly string[]).includes(text)) return fail(`one of ${LOG_LEVELS.join(', ')}`);
      return text;
  }
}

/** What no single value shows: something to listen on, complete DTLS credentials, and
 * files that can be read. */
async function checkConsistency(config: GatewayConfig): Promise<void> {
  if (config.port === null && config.dtls_port === null) throw new ConfigError('nothing to listen on: port and dtls_port are both off');
  if (config.dtls_port !== null) {
    const certificate = [config.cert_file, config.key_file, config.ca_file];
    const some = certificate.some((file) => file !== null);
    if (some && certificate.some((file) => file === null)) throw new ConfigError('certificate mode needs cert_file, key_file and ca_file together');
    if (config.psk_file === null && !some) throw new ConfigError('dtls_port needs credentials: psk_file, or cert_file, key_file and ca_file');
  }
  for (const key of ['psk_file', 'cert_file', 'key_file', 'ca_file', 'publisher_key_file'] as const) {
    const file = config[key];
    if (file === null) continue;
    try {
      await access(file, constants.R_OK);
    } catch (error) {
      throw new ConfigError(`${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
}
