// A gateway in the test process on real UDP (127.0.0.1, ephemeral port) and a real LMDB in a
// temp dir, with clients that are real endpoints. Identities are what DTLS would hand up:
// the gateway's transport stamps each datagram with the identity registered for the
// sender's port, so the access table sees operators and nodes without a handshake.

import { generateKeyPairSync, createHash, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY, signManifest, type Manifest, type UpdatePolicy } from '../../../src/fleet/manifest.js';
import type { MetricsSample } from '../../../src/fleet/node-views.js';
import { decodeBody } from '../../../src/fleet/payload.js';
import { Method } from '../../../src/protocol/codes.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import type { DatagramHandler, PeerAddress, Transport } from '../../../src/protocol/interfaces.js';
import { UdpTransport } from '../../../src/protocol/transport-udp.js';
import { ALERT_FIELDS, ALERT_KEYS, type AlertSettings } from '../../../src/server/alert-settings.js';
import type { GatewayConfig } from '../../../src/server/config.js';
import { Gateway } from '../../../src/server/gateway.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';

/** UDP whose received datagrams carry the identity registered for their source port. */
export class IdentityStampingTransport implements Transport {
  readonly scheme = 'coap' as const;
  readonly #inner: UdpTransport;
  readonly #identities: ReadonlyMap<number, string>;

  constructor(inner: UdpTransport, identities: ReadonlyMap<number, string>) {
    this.#inner = inner;
    this.#identities = identities;
  }

  address(): PeerAddress {
    return this.#inner.address();
  }

  send(data: Buffer, peer: PeerAddress): void {
    this.#inner.send(data, peer);
  }

  onDatagram(handler: DatagramHandler): void {
    this.#inner.onDatagram((data, peer) => handler(data, { ...peer, identity: this.#identities.get(peer.port) }));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function testConfig(dataDir: string, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    data_dir: dataDir, host: '127.0.0.1', port: 0, dtls_host: '127.0.0.1', dtls_port: null,
    psk_file: null, cert_file: null, key_file: null, ca_file: null, allow_local_plain: true, publisher_key_file: null,
    est_port: null, enroll_ca_cert_file: null, enroll_ca_key_file: null, enroll_certificate_validity_s: 30 * 86_400, dtls_hibernate_after_s: 10, dtls_max_sessions: 20_000,
    health_interval_s: 30, offline_after_intervals: 3, audit_max_entries: 1000, shutdown_grace_ms: 2000, node_timeout_ms: 10_000, retransmission: 'cocoa',
    log_level: 'debug', pretty: false, ready_file: null,
    dashboard_port: null, dashboard_host: '127.0.0.1', dashboard_cert_file: null, dashboard_key_file: null, dashboard_tokens_file: null,
    ...ALERT_DEFAULTS, ...overrides,
  };
}

/** The alert thresholds as a config without them gets them. */
const ALERT_DEFAULTS = Object.fromEntries(ALERT_KEYS.map((key) => [key, ALERT_FIELDS[key].default])) as unknown as AlertSettings;

export interface TestGateway {
  readonly gateway: Gateway;
  readonly dataDir: string;
  readonly logs: LogLine[];
  /** The root logger the gateway was given: its level is the gateway's log_level. */
  readonly logger: { readonly level: string };
  /** A client endpoint; with an identity ("node:n1", "operator:alice") it is seen as that. */
  client(identity?: string): Promise<Endpoint>;
  request(client: Endpoint, method: keyof typeof Method, path: string, body?: unknown, options?: { accept?: number; query?: string[] }): Promise<CoapResponse>;
  /** Stops the gateway (keeping the data dir unless `keepData` is false) and the clients. */
  close(keepData?: boolean): Promise<void>;
  /** Stops and starts again on the same data dir; clients keep their identities. */
  restart(): Promise<TestGateway>;
}

/** `now`: the gateway's clock (virtual time for what ages: presence, the metrics tiers). */
export async function startTestGateway(overrides: Partial<GatewayConfig> = {}, existingDir?: string, options: { now?: () => Date } = {}): Promise<TestGateway> {
  const dataDir = existingDir ?? await mkdtemp(join(tmpdir(), 'coap-fleet-gw-'));
  const identities = new Map<number, string>();
  const logs: LogLine[] = [];
  const config = testConfig(dataDir, overrides);
  const logger = createDaemonLogger({ level: 'debug', pretty: false, stream: { write: (line) => logs.push(JSON.parse(line) as LogLine) } });
  const transport = new IdentityStampingTransport(await UdpTransport.bind({ host: '127.0.0.1', port: 0 }), identities);
  const gateway = await Gateway.start({
    config, logger, endpoints: { coap: new Endpoint({ transport, separateResponseDelayMs: 2000 }) }, ...(options.now === undefined ? {} : { now: options.now }),
  });
  const port = gateway.addresses().coap!.port;
  const clients: Endpoint[] = [];
  const harness: TestGateway = {
    gateway, dataDir, logs, logger,
    async client(identity) {
      const endpoint = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
      if (identity !== undefined) identities.set(endpoint.address().port, identity);
      clients.push(endpoint);
      return endpoint;
    },
    request(client, method, path, body, options = {}) {
      return client.request({
        peer: { address: '127.0.0.1', port }, path, method: Method[method],
        ...(options.query === undefined ? {} : { query: options.query }),
        ...(options.accept === undefined ? {} : { accept: options.accept }),
        ...(body === undefined ? {} : { payload: Buffer.from(JSON.stringify(body)), contentFormat: ContentFormat.Json }),
      });
    },
    async close(keepData = false) {
      await gateway.stop();
      await Promise.all(clients.map((client) => client.close()));
      if (!keepData) await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await gateway.stop();
      await Promise.all(clients.map((client) => client.close()));
      return startTestGateway(overrides, dataDir, options);
    },
  };
  return harness;
}

export const bodyOf = <T = Record<string, unknown>>(response: CoapResponse): T => decodeBody(response.payload, response.contentFormat) as T;

export const publisher: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('ed25519');

/** A metrics sample taken at `atMs`, its mounts used as given (percent). */
export const metricsSample = (atMs: number, disks: Record<string, number> = { '/': 40 }): MetricsSample => ({
  at: new Date(atMs).toISOString(), cpu_percent: 12.5, memory_total_bytes: 1e9, memory_available_bytes: 6e8, memory_percent: 40,
  load: [0.1, 0.2, 0.3], temperature: 48, uptime_s: 1000,
  disks: Object.entries(disks).map(([mount, used]) => ({ mount, total_bytes: 1e10, free_bytes: Math.round(1e10 * (1 - used / 100)), used_percent: used })),
  network: [{ iface: 'eth0', rx_bytes: 1000, tx_bytes: 2000 }],
});

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A signed manifest for `image` (or for a stand-in checksum and size). */
export function manifestFor(updateId: string, targets: readonly string[], options: {
  image?: Buffer; version?: string; policy?: Partial<UpdatePolicy>;
  /** 2: a policy with a rollout plan, signed with the rest. */
  policyVersion?: 2;
} = {}): Manifest {
  const image = options.image ?? Buffer.from(`image of ${updateId}`);
  return signManifest({
    update_id: updateId, version: options.version ?? '2.0.0', size: image.length, checksum: `sha256:${sha256(image)}`,
    target_nodes: targets, policy: { ...DEFAULT_POLICY, ...options.policy },
    ...(options.policyVersion === undefined ? {} : { policy_version: options.policyVersion }),
  }, publisher.privateKey);
}

/** Log lines at warn or above other than the expected denials: a test fails on them. */
export const unexpectedLogs = (logs: readonly LogLine[], allowed: readonly string[] = ['request denied']): LogLine[] =>
  logs.filter((line) => (line.level === 'warn' || line.level === 'error' || line.level === 'fatal') && !allowed.includes(line.msg));

/** The next notification whose body satisfies `predicate` (notifications coalesce: the
 * newest state wins), or a rejection after `timeoutMs`. */
export async function notificationMatching<T = Record<string, unknown>>(
  notifications: AsyncIterator<CoapResponse>, predicate: (body: T) => boolean, timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error('no matching notification in time');
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      notifications.next(),
      new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), remaining); }),
    ]);
    clearTimeout(timer);
    if (next === 'timeout') throw new Error('no matching notification in time');
    if (next.done === true) throw new Error('the observation ended');
    const body = bodyOf<T>(next.value);
    if (predicate(body)) return body;
  }
}

/** What `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Waits until `condition` holds (audit entries of denials and presence changes are
 * written after the response), or fails after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
