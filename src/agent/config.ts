// The agent's configuration (DESIGN §8): its settings as a field table for the shared
// loader (src/fleet/config-layers.ts: file, then COAP_FLEET_AGENT_* environment, then
// flags), and what only the agent checks (keys, credentials, how settings fit together);
// every problem named at once in one AgentConfigError.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { parseCredentialsFile, type CredentialsFileContent } from '../fleet/credentials-file.js';
import {
  checkSetting, envName as envNameWith, loadLayers, LOG_LEVELS, type FieldTable, type FieldValues, type LayerSources, type LogLevel,
} from '../fleet/config-layers.js';
import { isValidTag, MAX_TAGS } from '../fleet/node-tags.js';
import { isValidId } from '../fleet/paths.js';
import { isValidVersion } from '../fleet/version.js';
import { CONGESTION_CONTROLS, type CongestionControl } from '../protocol/parameters.js';
import { parseUri } from '../protocol/uri.js';
import { AgentConfigError } from './errors.js';
import { readOperatorKeys } from './operator-keys.js';
import { overlayPath, readOverlay } from './settings-overlay.js';

export { LOG_LEVELS, type LogLevel };

export type InstallAdapterName = 'slots' | 'command' | 'rauc' | 'swupdate';
export type LogSourceName = 'journald' | 'files';
export type ServicesAdapterName = 'systemd' | 'command';
/** Downloads in bursts sized by the adaptive tuner (RFC 9177 Q-Block2, Block2 against a
 * gateway without it), or lock-step RFC 7959 Block2 only. */
export type BlockTransfer = 'qblock2' | 'block2';

/** DTLS client credentials, read and checked at start (DESIGN §4: PSK or P-256
 * certificates). A PSK key file is `keys generate`'s node-ID.json ({identity, key_hex}) or
 * the key in hex; PEM files are checked for their blocks by src/dtls at the handshake. */
export type DtlsCredentials =
  | { readonly mode: 'psk'; readonly identity: string; readonly key: Buffer }
  | { readonly mode: 'certificate'; readonly cert: string; readonly key: string; readonly ca: string; readonly serverName: string | undefined };

export interface EnrollmentSettings {
  /** The bootstrap PSK of `keys bootstrap` (used once, when there is no certificate yet). */
  readonly bootstrap: { readonly identity: string; readonly key: Buffer } | undefined;
  /** coaps://host:est_port of the gateway. */
  readonly estUri: string | undefined;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: string;
  readonly serverName: string | undefined;
  /** Re-enroll once this share of the certificate's validity has passed. */
  readonly reenrollAtPercent: number;
}

export interface AgentConfig {
  readonly nodeId: string;
  /** coap://host:port or coaps://host:port; no path. */
  readonly gateway: string;
  readonly dataDir: string;
  /** reserved_space_mb in bytes: not free for an image, as far as GET /update-readiness says. */
  readonly reservedSpaceBytes: number;
  readonly publisherKeyPath: string;
  /** The pinned Ed25519 key every manifest must be signed with (DESIGN §6). */
  readonly publisherKey: KeyObject;
  /** The version reported while no slot has been committed yet. */
  readonly initialVersion: string;
  readonly hardware: string;
  /** The node's groups, sent at registration (fleet/node-tags.ts). */
  readonly tags: readonly string[];
  readonly healthIntervalMs: number;
  readonly registerIntervalMs: number;
  readonly installAdapter: InstallAdapterName;
  readonly installCommand: string | undefined;
  readonly rollbackCommand: string | undefined;
  readonly installTimeoutMs: number;
  /** rauc and swupdate: run once the install is persisted as awaiting its reboot. */
  readonly rebootCommand: string;
  /** How long the agent may still run after rebootCommand before the reboot counts as failed. */
  readonly rebootTimeoutMs: number;
  /** swupdate: `-e SET,copyN` and the bootloader variable naming the copy to boot. */
  readonly swupdateSoftwareSet: string;
  readonly swupdateBootVariable: string;
  readonly healthCheckCommand: string | undefined;
  readonly healthCheckTimeoutMs: number;
  /** How long in all the agent keeps asking to install while the gateway answers 5.03. */
  readonly installMaxWaitMs: number;
  readonly listenHost: string | undefined;
  readonly listenPort: number;
  /** How CON retransmission timeouts are chosen: learnt per peer (CoCoA) or RFC 7252's fixed ones. */
  readonly retransmission: CongestionControl;
  /** How images are downloaded: tuned Q-Block2 bursts, or lock-step Block2. */
  readonly blockTransfer: BlockTransfer;
  /** GET /metrics: a sample every this many seconds, the last metricsHistory of them kept. */
  readonly metricsIntervalS: number;
  readonly metricsHistory: number;
  /** GET /logs: journald, or the tails of logFiles. */
  readonly logSource: LogSourceName;
  readonly logFiles: readonly string[];
  /** GET /services: the only units the agent reports on or acts upon. */
  readonly allowedUnits: readonly string[];
  readonly servicesAdapter: ServicesAdapterName;
  /** services_adapter command: the program called as `PROGRAM status|start|stop|restart UNIT`. */
  readonly servicesCommand: string | undefined;
  readonly logLevel: LogLevel;
  readonly dtls: DtlsCredentials | undefined;
  /** Enrollment (RFC 9148), with bootstrap_file: the agent gets its certificate itself
   * (cert_file and key_file are where it keeps them; dtls is undefined until it has) and
   * re-enrolls before it expires. */
  readonly enrollment: EnrollmentSettings | undefined;
  /** The operator command keys (DESIGN §6) by key id; empty: every command is refused. */
  readonly operatorKeys: ReadonlyMap<string, KeyObject>;
  readonly restartCommand: string;
  readonly shutdownCommand: string;
  readonly systemCommandTimeoutMs: number;
  /** Every setting's checked value by key, as the field table spells it. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Settings given on this node by the environment or a flag: they outrank a remote change
   * at the next start, so a remote change of them is refused. */
  readonly lockedSettings: readonly string[];
}

/** The settings a signed config.set may change (PUT /system/config), persisted in the
 * overlay (settings-overlay.ts). metrics_interval_s and allowed_units count once the field
 * table has them. */
export const REMOTE_SETTINGS: readonly string[] = ['log_level', 'health_interval_s', 'register_interval_s', 'metrics_interval_s', 'allowed_units'];

/** Is `value` a gateway URI: coap:// or coaps://, no path, no query? */
function checkGatewayUri(value: string): string | undefined {
  const allowed = 'coap://HOST:PORT or coaps://HOST:PORT without a path or query';
  try {
    const uri = parseUri(value);
    return uri.path.length > 0 || uri.query.length > 0 ? allowed : undefined;
  } catch (error) {
    return `${allowed} (${(error as Error).message})`;
  }
}

/** A unit name systemctl takes as a name, never as an option or a pattern (systemd.unit(5)). */
export const checkUnitName = (name: string): string | undefined => (/^[A-Za-z0-9][A-Za-z0-9@:._\\-]{0,255}$/.test(name)
  ? undefined : 'unit names of letters, digits and @:._-, starting with a letter or digit');

/** Every key of the JSON file; the flag is `--key-with-dashes`, the variable
 * `COAP_FLEET_AGENT_KEY`. Durations carry their unit (`_s`); the names of earlier
 * releases, without it, still work with a deprecation warning. */
export const CONFIG_FIELDS = {
  node_id: {
    kind: 'text', value: 'ID', required: true, description: 'this node\'s id (required)',
    check: (id: string) => (isValidId(id) ? undefined : '1-64 of [A-Za-z0-9._-], starting with a letter or digit'),
  },
  gateway: { kind: 'text', value: 'URI', required: true, description: 'gateway, coap:// or coaps://HOST:PORT (required)', check: checkGatewayUri },
  data_dir: { kind: 'path', value: 'DIR', default: '/var/lib/coap-fleet-agent', description: 'state, downloads and slots' },
  reserved_space_mb: {
    kind: 'count', value: 'MiB', min: 0, max: 16 * 1024 * 1024, default: 0,
    description: 'room (MiB) on data_dir\'s filesystem the device keeps for its own work: GET /update-readiness does not count it as free for an image',
  },
  publisher_key: { kind: 'path', value: 'PEM', required: true, description: 'publisher Ed25519 public key (required)' },
  initial_version: {
    kind: 'text', value: 'VERSION', default: '0.0.0', description: 'version before the first install',
    check: (version: string) => (isValidVersion(version) ? undefined : 'a version like 1.2.0'),
  },
  hardware: {
    kind: 'text', value: 'TEXT', description: 'hardware description sent at registration (default: arch, cpu, host name)',
    check: (text: string) => (text.length <= 128 ? undefined : 'at most 128 characters'),
  },
  tags: {
    kind: 'list', value: 'TAGS', max: MAX_TAGS, default: [], description: 'this node\'s groups, sent at registration (publish --tags, per-group windows)',
    check: (tag: string) => (isValidTag(tag) ? undefined : '1-32 of [A-Za-z0-9._-], starting with a letter or digit'),
  },
  health_interval_s: { kind: 'seconds', value: 'SECONDS', min: 0.1, max: 86_400, default: 10, description: 'health report period', deprecated: ['health_interval'] },
  register_interval_s: { kind: 'seconds', value: 'SECONDS', min: 1, max: 86_400, default: 300, description: 'registration refresh period', deprecated: ['register_interval'] },
  install_adapter: {
    kind: 'choice', value: 'slots|command|rauc|swupdate', choices: ['slots', 'command', 'rauc', 'swupdate'], default: 'slots', description: 'install adapter',
  },
  install_command: { kind: 'text', value: 'CMD', description: 'command adapter: run with IMAGE_PATH, VERSION, UPDATE_ID' },
  reboot_command: { kind: 'text', value: 'CMD', description: 'rauc and swupdate adapters: reboots into the new slot (default: restart_command)' },
  reboot_timeout_s: {
    kind: 'seconds', value: 'SECONDS', min: 1, max: 3600, default: 300, description: 'rauc and swupdate: the agent still running this long after reboot_command is a failed reboot',
  },
  swupdate_software_set: {
    kind: 'text', value: 'SET', default: 'stable', description: 'swupdate adapter: the sw-description software set (swupdate -e SET,copy1|copy2)',
    check: (set: string) => (/^[A-Za-z0-9_.-]{1,64}$/.test(set) ? undefined : '1-64 of [A-Za-z0-9_.-]'),
  },
  swupdate_boot_variable: {
    kind: 'text', value: 'NAME', default: 'boot_copy', description: 'swupdate adapter: the bootloader variable holding the copy to boot (copy1|copy2)',
    check: (name: string) => (/^[A-Za-z0-9_]{1,64}$/.test(name) ? undefined : 'a bootloader variable name, 1-64 of [A-Za-z0-9_]'),
  },
  rollback_command: { kind: 'text', value: 'CMD', description: 'command adapter: run on roll-back (optional)' },
  install_timeout_s: { kind: 'seconds', value: 'SECONDS', min: 1, max: 86_400, default: 600, description: 'time limit of the install command, and of each rauc, swupdate, fw_printenv and fw_setenv call', deprecated: ['install_timeout'] },
  health_check_command: { kind: 'text', value: 'CMD', description: 'post-install health check (default: slot sha256 + version)' },
  health_check_timeout_s: {
    kind: 'seconds', value: 'SECONDS', min: 0.1, max: 3600, default: 30, description: 'health check time limit', deprecated: ['health_check_timeout'],
  },
  install_max_wait_s: {
    kind: 'seconds', value: 'SECONDS', min: 1, max: 30 * 86_400, default: 86_400, description: 'give up asking to install after requests failed for this long (the gateway\'s 5.03 waits: windows, bakes, pauses, do not count)', deprecated: ['install_max_wait'],
  },
  listen_host: { kind: 'address', value: 'HOST', description: 'local address to bind (default: any)' },
  listen_port: { kind: 'port', value: 'PORT', default: 0, description: 'local UDP port, the agent_port, 0 for an ephemeral one' },
  retransmission: {
    kind: 'choice', value: 'cocoa|fixed', choices: CONGESTION_CONTROLS, default: 'cocoa',
    description: 'CON retransmission timeouts: learnt per peer (CoCoA) or RFC 7252 fixed',
  },
  block_transfer: {
    kind: 'choice', value: 'qblock2|block2', choices: ['qblock2', 'block2'], default: 'qblock2',
    description: 'image downloads: Q-Block2 bursts sized to the link (Block2 fallback) or lock-step Block2',
  },
  log_level: { kind: 'choice', value: 'LEVEL', choices: LOG_LEVELS, default: 'info', description: LOG_LEVELS.join('|') },
  metrics_interval_s: { kind: 'seconds', value: 'SECONDS', min: 1, max: 86_400, default: 30, description: 'GET /metrics sampling period' },
  metrics_history: { kind: 'count', value: 'SAMPLES', min: 1, max: 10_000, default: 120, description: 'metrics samples kept for GET /metrics?since=' },
  log_source: { kind: 'choice', value: 'journald|files', choices: ['journald', 'files'], default: 'journald', description: 'where GET /logs reads' },
  log_files: {
    kind: 'list', value: 'PATHS', max: 64, default: [], description: 'log_source files: the files GET /logs tails (absolute paths)',
    check: (path: string) => (isAbsolute(path) ? undefined : 'absolute paths'),
  },
  allowed_units: {
    kind: 'list', value: 'UNITS', max: 256, default: [], description: 'the units GET /services reports and commands may act on', check: checkUnitName,
  },
  services_adapter: { kind: 'choice', value: 'systemd|command', choices: ['systemd', 'command'], default: 'systemd', description: 'service manager' },
  services_command: { kind: 'path', value: 'PROGRAM', description: 'services_adapter command: called as PROGRAM status|start|stop|restart UNIT' },
  psk_identity: { kind: 'text', value: 'IDENTITY', description: 'coaps:// PSK identity, node:ID (or from the key file)' },
  psk_key_file: { kind: 'path', value: 'FILE', description: 'coaps:// PSK: node-ID.json of keys generate, or hex' },
  cert_file: { kind: 'path', value: 'PEM', description: 'coaps:// certificate (CN=node:ID), P-256' },
  key_file: { kind: 'path', value: 'PEM', description: 'coaps:// private key of the certificate' },
  ca_file: { kind: 'path', value: 'PEM', description: 'coaps:// CA the gateway certificate must chain to' },
  server_name: { kind: 'text', value: 'NAME', description: 'coaps:// name the gateway certificate must carry (optional)' },
  bootstrap_file: { kind: 'path', value: 'FILE', description: 'enroll (RFC 9148) with this bootstrap PSK of keys bootstrap when cert_file does not exist yet' },
  enroll_gateway: { kind: 'text', value: 'URI', description: 'coaps://HOST:EST_PORT of the gateway, for enrollment with bootstrap_file' },
  reenroll_at_percent: { kind: 'number', value: 'PERCENT', min: 10, max: 95, default: 70, description: 'with bootstrap_file: re-enroll (/sren) when this much of the validity has passed' },
  operator_keys: {
    kind: 'paths', value: 'PEM,…', default: [], description: 'operator command Ed25519 public keys (operator-command.pub); none: every command is refused',
  },
  restart_command: { kind: 'text', value: 'CMD', default: 'systemctl reboot', description: 'run on a signed restart, after the answer' },
  shutdown_command: { kind: 'text', value: 'CMD', default: 'systemctl poweroff', description: 'run on a signed shutdown, after the answer' },
  system_command_timeout_s: {
    kind: 'seconds', value: 'SECONDS', min: 1, max: 3600, default: 60, description: 'restart_command and shutdown_command time limit',
  },
} as const satisfies FieldTable;

type Fields = typeof CONFIG_FIELDS;
type Settings = FieldValues<Fields>;
type SettingKey = keyof Fields;
type DeprecatedKey = { [K in SettingKey]: Fields[K] extends { deprecated: readonly (infer D)[] } ? D : never }[SettingKey];
/** A key of the config file as written: its current name, or one of an earlier release. */
export type ConfigKey = SettingKey | DeprecatedKey;

const LAYOUT = { fields: CONFIG_FIELDS, envPrefix: 'COAP_FLEET_AGENT_' };

export const envName = (key: string): string => envNameWith(LAYOUT.envPrefix, key);

export interface ConfigSources {
  /** The JSON file, when --config was given; else COAP_FLEET_AGENT_CONFIG. */
  readonly file?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values of the command-line flags, by config key as spelled. */
  readonly flags?: Readonly<Partial<Record<ConfigKey, string>>>;
  /** Where relative paths from env and flags are taken from (default: process.cwd()). */
  readonly cwd?: string;
  /** Called once per setting given in a deprecated spelling, before any AgentConfigError. */
  readonly onDeprecated?: (warning: string) => void;
}

/** Reads the file, the remote overlay in data_dir, the environment and the flags, and
 * validates the merge. Throws AgentConfigError listing every problem. */
export function loadAgentConfig(sources: ConfigSources): AgentConfig {
  const layers: LayerSources = { file: sources.file, env: sources.env ?? {}, flags: sources.flags ?? {}, cwd: sources.cwd ?? process.cwd() };
  let loaded = loadLayers(LAYOUT, layers);
  // data_dir names where the overlay is; it is not itself one of the remote settings.
  const overlay = loaded.values.data_dir === undefined ? { values: {} } : readOverlay(loaded.values.data_dir);
  if ('problem' in overlay) loaded.problems.push(`data_dir: ${overlay.problem}`);
  else if (Object.keys(overlay.values).length > 0) {
    const from = overlayPath(loaded.values.data_dir);
    const foreign = Object.keys(overlay.values).filter((key) => !REMOTE_SETTINGS.includes(key));
    loaded = loadLayers(LAYOUT, { ...layers, overlay: { values: overlay.values, from, base: loaded.values.data_dir } });
    for (const key of foreign) loaded.problems.push(`${key}: not a remote setting, in ${from}`);
  }
  for (const warning of loaded.deprecations) sources.onDeprecated?.(warning);
  return validate(loaded.values, loaded.problems, loaded.fixed);
}


/** One setting's checked value under the loader's rules, or the problem with it. */
export function checkAgentSetting(key: string, value: unknown): { value: unknown } | { problem: string } {
  const field = Object.hasOwn(CONFIG_FIELDS, key) ? (CONFIG_FIELDS as FieldTable)[key] : undefined;
  if (field === undefined) return { problem: `${key}: not a setting` };
  const checked = checkSetting(field, value, process.cwd());
  return 'allowed' in checked ? { problem: `${key} must be ${checked.allowed}, not ${JSON.stringify(value)}` } : checked;
}

const DEFAULT_HARDWARE = (): string => `${arch()} ${cpus()[0]?.model ?? 'unknown cpu'} (${hostname()})`.slice(0, 128);

/** What no single value shows: the publisher key, the install adapter's command, the DTLS
 * credentials and the gateway's scheme together. */
function validate(values: Settings, problems: string[], locked: readonly string[]): AgentConfig {
  let publisherKey: KeyObject | undefined;
  if (values.publisher_key !== undefined) {
    try {
      publisherKey = createPublicKey(readFileSync(values.publisher_key, 'utf8'));
      if (publisherKey.asymmetricKeyType !== 'ed25519') {
        problems.push(`publisher_key: ${values.publisher_key} holds a ${publisherKey.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
      }
    } catch (error) {
      problems.push(`publisher_key: cannot read an Ed25519 public key from ${values.publisher_key}: ${(error as Error).message}`);
    }
  }

  const installCommand = values.install_command;
  if (values.install_adapter === 'command' && installCommand === undefined) problems.push('install_command: required with install_adapter "command"');
  if (values.install_adapter !== 'command' && installCommand !== undefined) problems.push('install_command: only with install_adapter "command"');
  const rebooting = values.install_adapter === 'rauc' || values.install_adapter === 'swupdate';
  if (rebooting && values.rollback_command !== undefined) problems.push(`rollback_command: only with install_adapter "command" (${values.install_adapter} rolls back itself)`);
  if (!rebooting && values.reboot_command !== undefined) problems.push('reboot_command: only with install_adapter "rauc" or "swupdate"');

  if (values.services_adapter === 'command' && values.services_command === undefined) problems.push('services_command: required with services_adapter "command"');
  if (values.services_adapter === 'systemd' && values.services_command !== undefined) problems.push('services_command: only with services_adapter "command"');
  if (values.log_source === 'files' && values.log_files.length === 0) problems.push('log_files: at least one file with log_source "files"');
  if (values.log_source === 'journald' && values.log_files.length > 0) problems.push('log_files: only with log_source "files"');

  // Undefined when the file could not be read at all (no defaults then).
  const operatorKeys = readOperatorKeys(values.operator_keys ?? [], problems);
  const enrollment = enrollmentSettings(values, problems);
  const dtls = enrollment !== undefined && !existsSync(enrollment.certFile) ? undefined : dtlsCredentials(values, problems);
  // Checked by its field already: parsing it again cannot throw.
  const scheme = values.gateway === undefined ? undefined : parseUri(values.gateway).scheme;
  if (scheme === 'coaps' && dtls === undefined && enrollment?.bootstrap === undefined && !problems.some((problem) => /^(psk_|cert_|key_|ca_|dtls)/.test(problem))) {
    problems.push('gateway: coaps:// needs psk_key_file (+ psk_identity) or cert_file + key_file + ca_file');
  }
  if (scheme === 'coap' && dtls !== undefined) problems.push('gateway: DTLS credentials given for a coap:// (plain) gateway: use coaps://');

  if (problems.length > 0) throw new AgentConfigError(problems);
  return {
    nodeId: values.node_id!, gateway: values.gateway!.replace(/\/+$/, ''), dataDir: values.data_dir,
    reservedSpaceBytes: values.reserved_space_mb * 1024 * 1024,
    publisherKeyPath: values.publisher_key!, publisherKey: publisherKey!, initialVersion: values.initial_version,
    hardware: values.hardware ?? DEFAULT_HARDWARE(),
    tags: values.tags,
    healthIntervalMs: values.health_interval_s * 1000,
    registerIntervalMs: values.register_interval_s * 1000,
    installAdapter: values.install_adapter as InstallAdapterName, installCommand, rollbackCommand: values.rollback_command,
    installTimeoutMs: values.install_timeout_s * 1000,
    rebootCommand: values.reboot_command ?? values.restart_command, rebootTimeoutMs: values.reboot_timeout_s * 1000,
    swupdateSoftwareSet: values.swupdate_software_set, swupdateBootVariable: values.swupdate_boot_variable,
    healthCheckCommand: values.health_check_command,
    healthCheckTimeoutMs: values.health_check_timeout_s * 1000,
    installMaxWaitMs: values.install_max_wait_s * 1000,
    listenHost: values.listen_host, listenPort: values.listen_port, retransmission: values.retransmission as CongestionControl,
    blockTransfer: values.block_transfer as BlockTransfer, logLevel: values.log_level as LogLevel, dtls, enrollment,
    metricsIntervalS: values.metrics_interval_s, metricsHistory: values.metrics_history,
    logSource: values.log_source as LogSourceName, logFiles: values.log_files,
    allowedUnits: values.allowed_units, servicesAdapter: values.services_adapter as ServicesAdapterName, servicesCommand: values.services_command,
    operatorKeys, restartCommand: values.restart_command, shutdownCommand: values.shutdown_command,
    systemCommandTimeoutMs: values.system_command_timeout_s * 1000, settings: { ...values }, lockedSettings: locked,
  };
}

/** Enrollment, for an agent with bootstrap_file: the credential while it has no
 * certificate yet, and where it keeps key and certificate (renewed by /sren after that).
 * Certificates issued otherwise (keys issue) are not renewed by the agent. */
function enrollmentSettings(values: Settings, problems: string[]): EnrollmentSettings | undefined {
  const bootstrapFile = values.bootstrap_file;
  if (bootstrapFile === undefined) {
    if (values.enroll_gateway !== undefined) problems.push('enroll_gateway: only with bootstrap_file');
    return undefined;
  }
  if (values.cert_file === undefined || values.key_file === undefined || values.ca_file === undefined) {
    problems.push('bootstrap_file: needs cert_file and key_file (where the enrolled ones are kept) and ca_file');
    return undefined;
  }
  let ca: string;
  try {
    ca = readFileSync(values.ca_file, 'utf8');
  } catch {
    return undefined; // dtlsCredentials says it
  }
  let bootstrap: EnrollmentSettings['bootstrap'];
  if (!existsSync(values.cert_file)) {
    if (values.enroll_gateway === undefined) problems.push('bootstrap_file: needs enroll_gateway (coaps://HOST:EST_PORT)');
    try {
      const parsed = parseCredentialsFile(readFileSync(bootstrapFile, 'utf8'));
      if (parsed.identity === undefined) problems.push(`bootstrap_file: ${bootstrapFile} names no identity`);
      else bootstrap = { identity: parsed.identity, key: parsed.key };
    } catch (error) {
      problems.push(`bootstrap_file: ${bootstrapFile}: ${(error as Error).message}`);
    }
  }
  return {
    bootstrap, estUri: values.enroll_gateway, certFile: values.cert_file, keyFile: values.key_file, ca,
    serverName: values.server_name, reenrollAtPercent: values.reenroll_at_percent,
  };
}

function dtlsCredentials(values: Settings, problems: string[]): DtlsCredentials | undefined {
  const read = (key: 'psk_key_file' | 'cert_file' | 'key_file' | 'ca_file'): { file: string; content: string } | undefined => {
    const file = values[key];
    if (file === undefined) return undefined;
    try {
      return { file, content: readFileSync(file, 'utf8') };
    } catch (error) {
      problems.push(`${key}: cannot read ${file}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const identityText = values.psk_identity;
  const pskKey = read('psk_key_file');
  const cert = read('cert_file');
  const key = read('key_file');
  const ca = read('ca_file');
  const serverName = values.server_name;
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
