// The agent's configuration (DESIGN §8): a JSON file, overridden by COAP_FLEET_AGENT_*
// environment variables, overridden by command-line flags; validated as a whole at start,
// every problem named at once. Paths in the file are relative to the file's directory.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { arch, cpus, hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { parseCredentialsFile, type CredentialsFileContent } from '../fleet/credentials-file.js';
import { isValidId } from '../fleet/paths.js';
import { isValidVersion } from '../fleet/version.js';
import { parseUri } from '../protocol/uri.js';
import { AgentConfigError } from './errors.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type InstallAdapterName = 'slots' | 'command';

/** DTLS client credentials, read and checked at start (DESIGN §4: PSK or P-256
 * certificates). A PSK key file is `keys generate`'s node-ID.json ({identity, key_hex}) or
 * the key in hex; PEM files are checked for their blocks by src/dtls at the handshake. */
export type DtlsCredentials =
  | { readonly mode: 'psk'; readonly identity: string; readonly key: Buffer }
  | { readonly mode: 'certificate'; readonly cert: string; readonly key: string; readonly ca: string; readonly serverName: string | undefined };

export interface AgentConfig {
  readonly nodeId: string;
  /** coap://host:port or coaps://host:port; no path. */
  readonly gateway: string;
  readonly dataDir: string;
  readonly publisherKeyPath: string;
  /** The pinned Ed25519 key every manifest must be signed with (DESIGN §6). */
  readonly publisherKey: KeyObject;
  /** The version reported while no slot has been committed yet. */
  readonly initialVersion: string;
  readonly hardware: string;
  readonly healthIntervalMs: number;
  readonly registerIntervalMs: number;
  readonly installAdapter: InstallAdapterName;
  readonly installCommand: string | undefined;
  readonly rollbackCommand: string | undefined;
  readonly installTimeoutMs: number;
  readonly healthCheckCommand: string | undefined;
  readonly healthCheckTimeoutMs: number;
  /** How long in all the agent keeps asking to install while the gateway answers 5.03. */
  readonly installMaxWaitMs: number;
  readonly listenHost: string | undefined;
  readonly listenPort: number;
  readonly logLevel: LogLevel;
  readonly dtls: DtlsCredentials | undefined;
}

type FieldKind = 'text' | 'path' | 'seconds' | 'port';

interface FieldSpec {
  readonly kind: FieldKind;
  readonly value: string;
  readonly description: string;
}

/** Every key of the JSON file; the flag is `--key-with-dashes`, the variable
 * `COAP_FLEET_AGENT_KEY`. Durations are seconds. */
export const CONFIG_FIELDS = {
  node_id: { kind: 'text', value: 'ID', description: 'this node\'s id (required)' },
  gateway: { kind: 'text', value: 'URI', description: 'gateway, coap:// or coaps://HOST:PORT (required)' },
  data_dir: { kind: 'path', value: 'DIR', description: 'state, downloads and slots (default /var/lib/coap-fleet-agent)' },
  publisher_key: { kind: 'path', value: 'PEM', description: 'publisher Ed25519 public key (required)' },
  initial_version: { kind: 'text', value: 'VERSION', description: 'version before the first install (default 0.0.0)' },
  hardware: { kind: 'text', value: 'TEXT', description: 'hardware description sent at registration' },
  health_interval: { kind: 'seconds', value: 'SECONDS', description: 'health report period (default 10)' },
  register_interval: { kind: 'seconds', value: 'SECONDS', description: 'registration refresh period (default 300)' },
  install_adapter: { kind: 'text', value: 'slots|command', description: 'install adapter (default slots)' },
  install_command: { kind: 'text', value: 'CMD', description: 'command adapter: run with IMAGE_PATH, VERSION, UPDATE_ID' },
  rollback_command: { kind: 'text', value: 'CMD', description: 'command adapter: run on roll-back (optional)' },
  install_timeout: { kind: 'seconds', value: 'SECONDS', description: 'install command time limit (default 600)' },
  health_check_command: { kind: 'text', value: 'CMD', description: 'post-install health check (default: slot sha256 + version)' },
  health_check_timeout: { kind: 'seconds', value: 'SECONDS', description: 'health check time limit (default 30)' },
  install_max_wait: { kind: 'seconds', value: 'SECONDS', description: 'give up asking to install after this (default 86400)' },
  listen_host: { kind: 'text', value: 'HOST', description: 'local address to bind (default: any)' },
  listen_port: { kind: 'port', value: 'PORT', description: 'local UDP port, the agent_port (default 0: ephemeral)' },
  log_level: { kind: 'text', value: 'LEVEL', description: `${LOG_LEVELS.join('|')} (default info)` },
  psk_identity: { kind: 'text', value: 'IDENTITY', description: 'coaps:// PSK identity, node:ID (or from the key file)' },
  psk_key_file: { kind: 'path', value: 'FILE', description: 'coaps:// PSK: node-ID.json of keys generate, or hex' },
  cert_file: { kind: 'path', value: 'PEM', description: 'coaps:// certificate (CN=node:ID), P-256' },
  key_file: { kind: 'path', value: 'PEM', description: 'coaps:// private key of the certificate' },
  ca_file: { kind: 'path', value: 'PEM', description: 'coaps:// CA the gateway certificate must chain to' },
  server_name: { kind: 'text', value: 'NAME', description: 'coaps:// name the gateway certificate must carry (optional)' },
} as const satisfies Record<string, FieldSpec>;

export type ConfigKey = keyof typeof CONFIG_FIELDS;

export const flagName = (key: ConfigKey): string => key.replace(/_/g, '-');
export const envName = (key: ConfigKey): string => `COAP_FLEET_AGENT_${key.toUpperCase()}`;

const KEYS = Object.keys(CONFIG_FIELDS) as ConfigKey[];
const isConfigKey = (key: string): key is ConfigKey => Object.hasOwn(CONFIG_FIELDS, key);

export interface ConfigSources {
  /** The JSON file, when --config was given. */
  readonly file?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values of the command-line flags, by config key. */
  readonly flags?: Readonly<Partial<Record<ConfigKey, string>>>;
  /** Where relative paths from env and flags are taken from (default: process.cwd()). */
  readonly cwd?: string;
}

/** One raw value and where it came from, for messages and relative paths. */
interface Raw {
  readonly value: unknown;
  readonly base: string;
}

/** Reads the file, the environment and the flags, and validates the merge. Throws
 * AgentConfigError listing every problem. */
export function loadAgentConfig(sources: ConfigSources): AgentConfig {
  const cwd = sources.cwd ?? process.cwd();
  const raw = new Map<ConfigKey, Raw>();
  if (sources.file !== undefined) {
    const path = resolve(cwd, sources.file);
    for (const [key, value] of Object.entries(readConfigFile(path))) raw.set(key as ConfigKey, { value, base: dirname(path) });
  }
  for (const key of KEYS) {
    const value = sources.env?.[envName(key)];
    if (value !== undefined && value !== '') raw.set(key, { value, base: cwd });
  }
  for (const key of KEYS) {
    const value = sources.flags?.[key];
    if (value !== undefined) raw.set(key, { value, base: cwd });
  }
  return validate(raw);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AgentConfigError([`cannot read it: ${(error as Error).message}`], `config file ${path}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new AgentConfigError([`not JSON: ${(error as Error).message}`], `config file ${path}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AgentConfigError(['must hold a JSON object'], `config file ${path}`);
  }
  const unknown = Object.keys(value).filter((key) => !isConfigKey(key));
  if (unknown.length > 0) {
    throw new AgentConfigError(unknown.map((key) => `unknown key ${JSON.stringify(key)}`), `config file ${path}`);
  }
  return value as Record<string, unknown>;
}

const DEFAULT_HARDWARE = (): string => `${arch()} ${cpus()[0]?.model ?? 'unknown cpu'} (${hostname()})`.slice(0, 128);

function validate(raw: ReadonlyMap<ConfigKey, Raw>): AgentConfig {
  const problems: string[] = [];
  const text = (key: ConfigKey): string | undefined => {
    const entry = raw.get(key);
    if (entry === undefined || entry.value === null) return undefined;
    if (typeof entry.value !== 'string' || entry.value === '') {
      problems.push(`${key}: must be a non-empty string`);
      return undefined;
    }
    return entry.value;
  };
  const path = (key: ConfigKey): string | undefined => {
    const value = text(key);
    return value === undefined ? undefined : resolve(raw.get(key)!.base, value);
  };
  const number = (key: ConfigKey, fallback: number, min: number, max: number, integer: boolean): number => {
    const entry = raw.get(key);
    if (entry === undefined) return fallback;
    const value = typeof entry.value === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(entry.value) ? Number(entry.value) : entry.value;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      problems.push(`${key}: must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const required = <T>(key: ConfigKey, value: T | undefined): T | undefined => {
    if (value === undefined && !raw.has(key)) problems.push(`${key}: required (--${flagName(key)} or ${envName(key)})`);
    return value;
  };

  const nodeId = required('node_id', text('node_id'));
  if (nodeId !== undefined && !isValidId(nodeId)) problems.push('node_id: 1-64 of [A-Za-z0-9._-], starting with a letter or digit');

  const gateway = required('gateway', text('gateway'));
  let scheme: string | undefined;
  if (gateway !== undefined) {
    try {
      const uri = parseUri(gateway);
      scheme = uri.scheme;
      if (uri.path.length > 0 || uri.query.length > 0) problems.push('gateway: coap://HOST:PORT without a path or query');
    } catch (error) {
      problems.push(`gateway: ${(error as Error).message}`);
    }
  }

  const publisherKeyPath = required('publisher_key', path('publisher_key'));
  let publisherKey: KeyObject | undefined;
  if (publisherKeyPath !== undefined) {
    try {
      publisherKey = createPublicKey(readFileSync(publisherKeyPath, 'utf8'));
      if (publisherKey.asymmetricKeyType !== 'ed25519') {
        problems.push(`publisher_key: ${publisherKeyPath} holds a ${publisherKey.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
      }
    } catch (error) {
      problems.push(`publisher_key: cannot read an Ed25519 public key from ${publisherKeyPath}: ${(error as Error).message}`);
    }
  }

  const initialVersion = text('initial_version') ?? '0.0.0';
  if (!isValidVersion(initialVersion)) problems.push('initial_version: a version like 1.2.0');

  const installAdapter = text('install_adapter') ?? 'slots';
  if (installAdapter !== 'slots' && installAdapter !== 'command') problems.push('install_adapter: slots or command');
  const installCommand = text('install_command');
  if (installAdapter === 'command' && installCommand === undefined) problems.push('install_command: required with install_adapter "command"');
  if (installAdapter === 'slots' && installCommand !== undefined) problems.push('install_command: only with install_adapter "command"');

  const listenHost = text('listen_host');
  if (listenHost !== undefined && isIP(listenHost) === 0) problems.push('listen_host: an IPv4 or IPv6 address');

  const logLevel = text('log_level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) problems.push(`log_level: one of ${LOG_LEVELS.join(', ')}`);

  const dtls = dtlsCredentials(path, text, problems);
  if (scheme === 'coaps' && dtls === undefined && !problems.some((problem) => /^(psk_|cert_|key_|ca_|dtls)/.test(problem))) {
    problems.push('gateway: coaps:// needs psk_key_file (+ psk_identity) or cert_file + key_file + ca_file');
  }
  if (scheme === 'coap' && dtls !== undefined) problems.push('gateway: DTLS credentials given for a coap:// (plain) gateway: use coaps://');

  const hardware = text('hardware') ?? DEFAULT_HARDWARE();
  if (hardware.length > 128) problems.push('hardware: at most 128 characters');

  const config = {
    healthIntervalMs: number('health_interval', 10, 0.1, 86_400, false) * 1000,
    registerIntervalMs: number('register_interval', 300, 1, 86_400, false) * 1000,
    installTimeoutMs: number('install_timeout', 600, 1, 86_400, false) * 1000,
    healthCheckTimeoutMs: number('health_check_timeout', 30, 0.1, 3600, false) * 1000,
    installMaxWaitMs: number('install_max_wait', 86_400, 1, 30 * 86_400, false) * 1000,
    listenPort: number('listen_port', 0, 0, 65_535, true),
  };
  if (problems.length > 0) throw new AgentConfigError(problems);
  return {
    nodeId: nodeId!, gateway: gateway!.replace(/\/+$/, ''), dataDir: path('data_dir') ?? '/var/lib/coap-fleet-agent',
    publisherKeyPath: publisherKeyPath!, publisherKey: publisherKey!, initialVersion, hardware,
    installAdapter: installAdapter as InstallAdapterName, installCommand, rollbackCommand: text('rollback_command'),
    healthCheckCommand: text('health_check_command'), listenHost, logLevel: logLevel as LogLevel, dtls, ...config,
  };
}

function dtlsCredentials(
  path: (key: ConfigKey) => string | undefined, text: (key: ConfigKey) => string | undefined, problems: string[],
): DtlsCredentials | undefined {
  const read = (key: ConfigKey): { file: string; content: string } | undefined => {
    const file = path(key);
    if (file === undefined) return undefined;
    try {
      return { file, content: readFileSync(file, 'utf8') };
    } catch (error) {
      problems.push(`${key}: cannot read ${file}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const identityText = text('psk_identity');
  const pskKey = read('psk_key_file');
  const cert = read('cert_file');
  const key = read('key_file');
  const ca = read('ca_file');
  const serverName = text('server_name');
  const psk = identityText !== undefined || pskKey !== undefined;
  const certificate = cert !== undefined || key !== undefined || ca !== undefined;
  if (psk && certificate) {
    problems.push('dtls: either psk_key_file (+ psk_identity) or cert_file + key_file + ca_file, not both');
    return undefined;
  }
  if (psk) {
    if (pskKey === undefined) {
      problems.push('psk_key_file: required with psk_identity');
      return undefined;
    }
    let parsed: CredentialsFileContent;
    try {
      parsed = parseCredentialsFile(pskKey.content);
    } catch (error) {
      problems.push(`psk_key_file: ${pskKey.file}: ${(error as Error).message}`);
      return undefined;
    }
    if (identityText !== undefined && parsed.identity !== undefined && identityText !== parsed.identity) {
      problems.push(`psk_identity: ${identityText} differs from ${parsed.identity} in ${pskKey.file}`);
    }
    const identity = identityText ?? parsed.identity;
    if (identity === undefined) problems.push('psk_identity: required (the key file names none)');
    return identity === undefined ? undefined : { mode: 'psk', identity, key: parsed.key };
  }
  if (certificate) {
    if (cert === undefined || key === undefined || ca === undefined) {
      problems.push('dtls: cert_file, key_file and ca_file go together');
      return undefined;
    }
    return { mode: 'certificate', cert: cert.content, key: key.content, ca: ca.content, serverName };
  }
  if (serverName !== undefined) problems.push('server_name: only with cert_file, key_file and ca_file');
  return undefined;
}
