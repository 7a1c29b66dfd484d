// The gateway's configuration (DESIGN §8): its settings as a field table for the shared
// loader (src/fleet/config-layers.ts: file, then COAP_FLEET_SERVER_* environment, then
// flags), and what only the gateway checks; every mistake in one ConfigError.

import { access, constants } from 'node:fs/promises';
import { isLoopback } from '../fleet/identity.js';
import { envName as envNameWith, loadLayers, LOG_LEVELS, type FieldTable, type LayerSources, type LogLevel } from '../fleet/config-layers.js';
import { CONGESTION_CONTROLS, type CongestionControl } from '../protocol/parameters.js';
import { ALERT_FIELDS, alertSettingProblems, type AlertSettings } from './alert-settings.js';
import { ConfigError } from './errors.js';

export { LOG_LEVELS, type LogLevel };

/** The settings, named as in the config file; the alert thresholds are alert-settings.ts's. */
export interface GatewayConfig extends AlertSettings {
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
  /** EST enrollment (RFC 9148) over DTLS with bootstrap PSKs (null: none), on dtls_host. */
  readonly est_port: number | null;
  /** The CA that signs enrolled nodes' certificates, and its key (PEM). */
  readonly enroll_ca_cert_file: string | null;
  readonly enroll_ca_key_file: string | null;
  /** Validity of an enrolled certificate. */
  readonly enroll_certificate_validity_s: number;
  /** An established DTLS session idle this long hibernates (0: never; issue 14). */
  readonly dtls_hibernate_after_s: number;
  readonly dtls_max_sessions: number;
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
  /** How long a node's agent has to answer a request the gateway forwards (then 5.04). */
  readonly node_timeout_ms: number;
  /** How CON retransmission timeouts are chosen: learnt per peer (CoCoA) or RFC 7252's fixed ones. */
  readonly retransmission: CongestionControl;
  readonly log_level: LogLevel;
  readonly pretty: boolean;
  /** Written once listening: {"coap_port", "coaps_port", "est_port", "dashboard_port"}; removed at stop. */
  readonly ready_file: string | null;
  /** The dashboard (issue 15): HTTP(S) and CoAP over WebSocket on this port (null: none). */
  readonly dashboard_port: number | null;
  readonly dashboard_host: string;
  /** HTTPS when both are given; required for a non-loopback dashboard_host. */
  readonly dashboard_cert_file: string | null;
  readonly dashboard_key_file: string | null;
  /** SHA-256 of each operator's login token (dashboard-tokens.json from keys generate). */
  readonly dashboard_tokens_file: string | null;
}

/** Every setting: its kind and, when it has one, the default. `dtls_host` and
 * `allow_local_plain` default from `host`; `data_dir` has none. */
export const GATEWAY_FIELDS = {
  data_dir: { kind: 'path', value: 'DIR', required: true, description: 'state (LMDB) and firmware images; required' },
  host: { kind: 'host', value: 'HOST', default: '127.0.0.1', description: 'plain CoAP address' },
  port: { kind: 'port', value: 'PORT', canBeOff: true, default: 5683, description: 'plain CoAP port, 0 ephemeral, or off' },
  dtls_host: { kind: 'host', value: 'HOST', description: 'CoAP over DTLS address (default: host)' },
  dtls_port: { kind: 'port', value: 'PORT', canBeOff: true, default: null, description: 'CoAP over DTLS port (default off)' },
  psk_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'DTLS pre-shared keys' },
  cert_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'DTLS certificate chain (PEM)' },
  key_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'DTLS private key (PEM)' },
  ca_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'CA that signs peer certificates (PEM)' },
  est_port: { kind: 'port', value: 'PORT', canBeOff: true, default: null, description: 'EST enrollment (RFC 9148) with bootstrap PSKs over DTLS (default off)' },
  enroll_ca_cert_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'CA certificate (PEM) that signs enrolled nodes; in ca_file too' },
  enroll_ca_key_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'its private key (PEM)' },
  dtls_hibernate_after_s: { kind: 'seconds', value: 'SECONDS', min: 0, max: 86_400, default: 10, description: 'a DTLS session idle this long keeps ~200 bytes instead of ~11 KB until its next record; 0 never' },
  dtls_max_sessions: { kind: 'count', value: 'N', min: 1, max: 1_000_000, default: 20_000, description: 'DTLS sessions held at once, nodes and operators together; past it the least recently used ends' },
  enroll_certificate_validity_s: { kind: 'seconds', value: 'SECONDS', min: 10, max: 10 * 366 * 86_400, default: 30 * 86_400, description: 'validity of an enrolled certificate' },
  allow_local_plain: { kind: 'boolean', value: 'true|false', description: 'plain CoAP from loopback is the local operator (default: when host is loopback)' },
  publisher_key_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'Ed25519 public key: refuse manifests it did not sign' },
  health_interval_s: { kind: 'seconds', value: 'SECONDS', min: 0.01, max: 86_400, default: 30, description: 'period nodes are told to report at' },
  offline_after_intervals: { kind: 'count', value: 'N', min: 1, max: 1e9, default: 3, description: 'a node silent this many periods is offline' },
  audit_max_entries: { kind: 'count', value: 'N', min: 1, max: 1e9, default: 10_000, description: 'audit trail entries kept' },
  shutdown_grace_ms: { kind: 'milliseconds', value: 'MS', min: 0, max: 600_000, default: 5_000, description: 'how long a stop waits for running requests' },
  node_timeout_ms: { kind: 'milliseconds', value: 'MS', min: 100, max: 600_000, default: 10_000, description: 'how long a node has to answer a forwarded request (then 5.04)' },
  retransmission: {
    kind: 'choice', value: 'cocoa|fixed', choices: CONGESTION_CONTROLS, default: 'cocoa',
    description: 'CON retransmission timeouts: learnt per peer (CoCoA) or RFC 7252 fixed',
  },
  log_level: { kind: 'choice', value: 'LEVEL', choices: LOG_LEVELS, default: 'info', description: LOG_LEVELS.join('|') },
  pretty: { kind: 'boolean', default: false, description: 'readable log lines instead of JSON' },
  ready_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'write {"coap_port","coaps_port"} here once listening' },
  dashboard_port: { kind: 'port', value: 'PORT', canBeOff: true, default: null, description: 'the dashboard: HTTP(S) and CoAP over WebSocket (default off)' },
  dashboard_host: { kind: 'host', value: 'HOST', default: '127.0.0.1', description: 'the dashboard\'s address (non-loopback needs HTTPS)' },
  dashboard_cert_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'the dashboard\'s HTTPS certificate chain (PEM)' },
  dashboard_key_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'its private key (PEM)' },
  dashboard_tokens_file: { kind: 'path', value: 'FILE', canBeOff: true, default: null, description: 'operators\' login token hashes (dashboard-tokens.json)' },
  ...ALERT_FIELDS,
} as const satisfies FieldTable & Record<keyof GatewayConfig, unknown>;

/** COAP_FLEET_SERVER_<KEY>; the COAP_FLEET_<KEY> of earlier releases still works, with a warning. */
const LAYOUT = { fields: GATEWAY_FIELDS, envPrefix: 'COAP_FLEET_SERVER_', deprecatedEnvPrefixes: ['COAP_FLEET_'] };

export const CONFIG_KEYS = Object.keys(GATEWAY_FIELDS) as (keyof GatewayConfig)[];
export const envName = (key: string): string => envNameWith(LAYOUT.envPrefix, key);

export interface ConfigSources extends LayerSources {
  /** Called once per setting given in a deprecated spelling, before any ConfigError. */
  readonly onDeprecated?: (warning: string) => void;
}

/** The settings the environment or a flag gives: a change through /system/config would
 * lose to them at the next start. */
export const fixedSettings = (sources: ConfigSources): readonly string[] => loadLayers(LAYOUT, sources).fixed;

/** The configuration from its three sources, or a ConfigError naming every problem.
 * Reads only the config file and checks that the credential files can be read. */
export async function loadConfig(sources: ConfigSources): Promise<GatewayConfig> {
  const { values, problems, deprecations } = loadLayers(LAYOUT, sources);
  for (const warning of deprecations) sources.onDeprecated?.(warning);
  if (values.host !== undefined) {
    values.dtls_host ??= values.host;
    values.allow_local_plain ??= isLoopback(values.host) || values.host === 'localhost';
  }
  const config = values as GatewayConfig;
  if (problems.length === 0) problems.push(...await consistencyProblems(config));
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return config;
}

/** What no single value shows: alert clear levels at or below their thresholds, something
 * to listen on, complete DTLS credentials, and files that can be read. */
async function consistencyProblems(config: GatewayConfig): Promise<string[]> {
  const problems = alertSettingProblems(config);
  if (config.port === null && config.dtls_port === null) problems.push('nothing to listen on: port and dtls_port are both off');
  if (config.dtls_port !== null) {
    const certificate = [config.cert_file, config.key_file, config.ca_file];
    const some = certificate.some((file) => file !== null);
    if (some && certificate.some((file) => file === null)) problems.push('certificate mode needs cert_file, key_file and ca_file together');
    if (config.psk_file === null && !some) problems.push('dtls_port needs credentials: psk_file, or cert_file, key_file and ca_file');
  }
  if (config.est_port !== null && (config.dtls_port === null || config.cert_file === null)) problems.push('est_port needs dtls_port with certificates (cert_file, key_file, ca_file)');
  if (config.est_port !== null && (config.enroll_ca_cert_file === null || config.enroll_ca_key_file === null)) problems.push('est_port needs enroll_ca_cert_file and enroll_ca_key_file');
  problems.push(...dashboardProblems(config));
  for (const key of ['psk_file', 'cert_file', 'key_file', 'ca_file', 'publisher_key_file', 'enroll_ca_cert_file', 'enroll_ca_key_file',
    'dashboard_cert_file', 'dashboard_key_file', 'dashboard_tokens_file'] as const) {
    const file = config[key];
    if (file === null) continue;
    try {
      await access(file, constants.R_OK);
    } catch (error) {
      problems.push(`${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return problems;
}

/** The dashboard's settings together: logins need tokens; HTTPS needs certificate and key;
 * a dashboard reachable from other machines needs HTTPS (its cookie and tokens cross the
 * network). */
function dashboardProblems(config: GatewayConfig): string[] {
  if (config.dashboard_port === null) return [];
  const problems: string[] = [];
  if (config.dashboard_tokens_file === null) problems.push('dashboard_port needs dashboard_tokens_file (dashboard-tokens.json from keys generate)');
  const https = [config.dashboard_cert_file, config.dashboard_key_file];
  if (https.some((file) => file !== null) && https.some((file) => file === null)) problems.push('dashboard HTTPS needs dashboard_cert_file and dashboard_key_file together');
  const loopback = isLoopback(config.dashboard_host) || config.dashboard_host === 'localhost';
  if (!loopback && https.some((file) => file === null)) problems.push(`dashboard_host ${config.dashboard_host} is not loopback: give dashboard_cert_file and dashboard_key_file (HTTPS)`);
  return problems;
}
