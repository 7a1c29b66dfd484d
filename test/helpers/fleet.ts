// The end-to-end harness: a temporary directory with fresh keys, the gateway and agents as
// real processes (bin/coap-fleet.js) on loopback over DTLS with their logs in files, the
// operator's side through src/operator's own functions (openGateway, publishImage,
// watchRollout), and bounded waits that fail early when a daemon dies.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentPaths } from '../../src/agent/agent.js';
import { AgentStore, type SlotsRecord, type NodeUpdateRecord } from '../../src/agent/store.js';
import { openGateway, type GatewayClient } from '../../src/operator/gateway-client.js';
import { generateKeys } from '../../src/operator/keys.js';
import { initCertificateAuthority, issueFor } from '../../src/operator/certificate-authority.js';
import { createBootstrapCredential } from '../../src/operator/enrollment.js';
import type { DtlsCredentials } from '../../src/dtls/transport-options.js';
import { startFaultProxy, type FaultProxy } from '../../src/testing/fault-proxy.js';
import { publishImage } from '../../src/operator/publish.js';
import { watchRollout } from '../../src/operator/rollout-watch.js';
import { DEFAULT_POLICY, type Manifest, type UpdatePolicy } from '../../src/fleet/manifest.js';
import type { NodeUpdateState } from '../../src/fleet/update-state.js';
import type { CoapResponse } from '../../src/protocol/client.js';
import { Method } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import type { FaultOptions } from '../../src/protocol/transport-faulty.js';
import type { NodeView, StatusView } from '../../src/fleet/views.js';
import { writeRandomImage, type Image } from '../../src/operator/image-file.js';
import { sha256File } from '../../src/fleet/sha256-file.js';
import { DASHBOARD_TOKENS_FILE } from '../../src/fleet/dashboard-tokens.js';

export { sha256File, writeRandomImage, type Image };

/** dist/test/helpers/ → the repository root, where bin/ is. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'coap-fleet.js');

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const OPERATOR = 'admin';

/** Waits for `probe` to return something other than undefined, polling with a growing
 * interval, for at most `timeoutMs`; `alive` is checked first on every round, so a daemon
 * that died fails the wait at once with its name instead of at the deadline. */
export async function until<T>(
  what: string, probe: () => T | undefined | Promise<T | undefined>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly alive?: () => void },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (let round = 0; ; round++) {
    options.alive?.();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`;
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${detail}`);
    }
    await delay(Math.min(options.intervalMs ?? 500, 50 * (round + 1)));
  }
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set (now and peak) and CPU time of a process, from /proc (CLK_TCK 100). */
export interface ProcessUsage {
  readonly rssKiB: number;
  readonly peakRssKiB: number;
  readonly cpuSeconds: number;
}

export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    // Fields after the command name, which may itself hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssKiB: kib('VmRSS'), peakRssKiB: kib('VmHWM'), cpuSeconds: ticks / 100 };
  } catch {
    return undefined;
  }
}

/** A daemon started from bin/coap-fleet.js, stdout and stderr into its log file. */
export class Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
  /** Set when the test ends it on purpose: its exit is then no failure. */
  #ending = false;

  private constructor(name: string, child: ChildProcess, logPath: string) {
    this.name = name;
    this.child = child;
    this.logPath = logPath;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static start(name: string, args: readonly string[], logPath: string, env: Readonly<Record<string, string>> = {}): Daemon {
    const out = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    child.once('close', () => out.end());
    return new Daemon(name, child, logPath);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Throws when the daemon exited without the test asking it to. */
  checkAlive(): void {
    if (!this.running && !this.#ending) {
      throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) unexpectedly; log ${this.logPath}:\n${this.tail(20)}`);
    }
  }

  /** kill -9: no clean-up of any kind in the daemon. */
  async kill(): Promise<void> {
    this.#ending = true;
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with how it ended. */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
    this.#ending = true;
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }

  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  tail(lines: number): string {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** The pino JSON lines of the log (anything else, a crash's stack, as `{ msg: line }`). */
  entries(): LogEntry[] {
    return this.log().split('\n').filter((line) => line !== '').map((line) => {
      try {
        return JSON.parse(line) as LogEntry;
      } catch {
        return { level: 'unparsed', msg: line };
      }
    });
  }

  /** Log lines at warn or above (and lines that are not JSON) that nothing in `expected`
   * explains: a pattern for the message, or a predicate on the whole entry. */
  unexpectedLines(expected: readonly ExpectedLine[] = []): string[] {
    const severe = new Set<unknown>(['warn', 'error', 'fatal', 'unparsed']);
    const explained = (entry: LogEntry): boolean =>
      expected.some((rule) => (rule instanceof RegExp ? rule.test(String(entry.msg)) : rule(entry)));
    return this.entries()
      .filter((entry) => severe.has(entry.level) && !explained(entry))
      .map((entry) => `${this.name}: ${JSON.stringify(entry).slice(0, 400)}`);
  }
}

export interface LogEntry {
  readonly level?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** A warn-or-worse log line a test expects: its message, or a test of the whole entry. */
export type ExpectedLine = RegExp | ((entry: LogEntry) => boolean);

export interface GatewayStartOptions {
  /** The DTLS port: 0 (the default) for an ephemeral one; a restart passes the old one. */
  readonly dtlsPort?: number;
  /** Plain CoAP: 'off' (the default, as in the demo) or a port (0: ephemeral). */
  readonly plainPort?: number | 'off';
  /** Pin the publisher key on the gateway too (default true): POST /updates then refuses
   * manifests it did not sign. */
  readonly publisherKey?: boolean;
  /** The dashboard (issue 15) on an ephemeral loopback port, with the login tokens that
   * `keys generate` wrote (dashboard-tokens.json); its port lands in dashboardPort. */
  readonly dashboard?: boolean;
  readonly env?: Readonly<Record<string, string>>;
}

export interface AgentOptions {
  /** Another gateway URI than the gateway's own (a fault proxy in front of it). */
  readonly gateway?: string;
  /** Keys of the agent's config file (src/agent/config.ts) over the harness defaults. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Environment of the agent process, over the test's; kept for its restarts. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface PublishOptions {
  readonly image: Image;
  readonly version: string;
  readonly targets: readonly string[];
  readonly updateId?: string;
  readonly policy?: Partial<UpdatePolicy>;
  /** The manifest's format: 2 (publish's default, with chunk hashes) or 1. */
  readonly manifestVersion?: 1 | 2;
}

/** A node's persisted state, from its LMDB environment (src/agent/store.ts). */
export interface AgentState {
  readonly updates: readonly NodeUpdateRecord[];
  readonly slots: SlotsRecord;
  /** Per update, the terminal state the gateway acknowledged, if any. */
  readonly reported: Readonly<Record<string, NodeUpdateState | undefined>>;
}

export interface FleetOptions {
  /** Node ids with DTLS credentials (default node-1..node-5). */
  readonly nodeIds?: readonly string[];
  /** Prefix of the temporary directory. */
  readonly name?: string;
  /** DTLS with certificates from a fleet CA (keys ca init, keys issue) instead of PSKs. */
  readonly certificates?: boolean;
  /** With certificates: the gateway also enrolls nodes (RFC 9148, est_port). */
  readonly enrollment?: EnrollmentOptions;
}

export interface EnrollmentOptions {
  /** Validity of the certificates the gateway issues (enroll_certificate_validity_s). */
  readonly validityS?: number;
}

export class Fleet {
  readonly dir: string;
  readonly keysDir: string;
  readonly nodeIds: readonly string[];
  readonly gatewayDataDir: string;
  /** Certificate mode: the CA's directory (ca.crt, ca.key); the issued files are in keysDir. */
  readonly caDir: string | undefined;
  gateway: Daemon | undefined;
  /** The gateway's DTLS port, once it has one; kept across a restart. */
  coapsPort: number | undefined;
  /** The plain CoAP port, when the gateway has one. */
  coapPort: number | undefined;
  /** The EST enrollment port (RFC 9148), when the gateway has one. */
  estPort: number | undefined;
  /** The dashboard's HTTP port, when started with `dashboard`. */
  dashboardPort: number | undefined;
  /** Certificate mode: the gateway also enrolls nodes (startGateway's est_port). */
  readonly enrollment: EnrollmentOptions | undefined;
  readonly agents = new Map<string, Daemon>();
  readonly #agentEnv = new Map<string, Readonly<Record<string, string>>>();
  readonly #daemons: Daemon[] = [];
  readonly #proxies: FaultProxy[] = [];
  #operator: Promise<GatewayClient> | undefined;

  private constructor(dir: string, nodeIds: readonly string[], certificates: boolean, enrollment: EnrollmentOptions | undefined) {
    this.dir = dir;
    this.keysDir = join(dir, 'keys');
    this.nodeIds = nodeIds;
    this.gatewayDataDir = join(dir, 'gateway');
    this.caDir = certificates ? join(dir, 'ca') : undefined;
    this.enrollment = certificates ? enrollment : undefined;
  }

  /** A temporary directory with a publisher key pair and PSK credentials for an operator
   * and every node (generateKeys, as `keys generate` and the demo do). */
  static async create(options: FleetOptions = {}): Promise<Fleet> {
    const nodeIds = options.nodeIds ?? ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
    const dir = await mkdtemp(join(await realpath(tmpdir()), `coap-fleet-${options.name ?? 'e2e'}-`));
    const fleet = new Fleet(dir, nodeIds, options.certificates === true, options.enrollment);
    try {
      await generateKeys(fleet.keysDir, nodeIds, OPERATOR, true);
      if (fleet.caDir !== undefined) await fleet.#issueCertificates(fleet.caDir);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return fleet;
  }

  async #issueCertificates(caDir: string): Promise<void> {
    await initCertificateAuthority(caDir, { intermediate: true, days: 30, overwrite: false });
    const issue = { days: 30, outDirectory: this.keysDir, overwrite: true };
    await issueFor(caDir, { kind: 'gateway', hosts: ['localhost', '127.0.0.1'] }, issue);
    await issueFor(caDir, { kind: 'operator', name: OPERATOR }, issue);
    for (const id of this.nodeIds) await issueFor(caDir, { kind: 'node', id }, issue);
  }

  /** Certificate mode: the .crt/.key pair `keys issue` wrote for `base` (node-ID,
   * operator-NAME, gateway) and the CA's root. */
  certificateFiles(base: string): { readonly cert: string; readonly key: string; readonly ca: string } {
    if (this.caDir === undefined) throw new Error('this fleet runs on PSKs');
    return { cert: join(this.keysDir, `${base}.crt`), key: join(this.keysDir, `${base}.key`), ca: join(this.caDir, 'ca.crt') };
  }

  /** A DTLS client's certificate credentials from files (the operator's, a node's, or others). */
  static certificateCredentials(files: { readonly cert: string; readonly key: string; readonly ca: string }): DtlsCredentials {
    return {
      mode: 'certificate',
      certificates: { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8'), ca: readFileSync(files.ca, 'utf8') },
    };
  }

  /** How a client of this fleet authenticates as `base` (operator-admin, node-ID). */
  #clientCredentials(base: string): { readonly credentials: string } | { readonly dtls: DtlsCredentials } {
    return this.caDir === undefined ? { credentials: join(this.keysDir, `${base}.json`) } : { dtls: Fleet.certificateCredentials(this.certificateFiles(base)) };
  }

  get gatewayUri(): string {
    if (this.coapsPort === undefined) throw new Error('the gateway has not started');
    return `coaps://127.0.0.1:${this.coapsPort}`;
  }

  get operatorCredentials(): string {
    return join(this.keysDir, `operator-${OPERATOR}.json`);
  }

  nodeCredentials(nodeId: string): string {
    return join(this.keysDir, `node-${nodeId}.json`);
  }

  get publisherPrivateKey(): string {
    return readFileSync(join(this.keysDir, 'publisher.key'), 'utf8');
  }

  get publisherPublicKeyPath(): string {
    return join(this.keysDir, 'publisher.pub');
  }

  /** A log file per start: gateway.log, then gateway.2.log after a restart. */
  #logPath(name: string): string {
    const starts = this.#daemons.filter((daemon) => daemon.name === name).length;
    return join(this.dir, starts === 0 ? `${name}.log` : `${name}.${starts + 1}.log`);
  }

  /** Fails when any daemon the test did not end has exited. */
  checkAlive(): void {
    for (const daemon of this.#daemons) daemon.checkAlive();
  }

  /** A bounded wait that also fails as soon as a daemon dies. */
  until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs?: number): Promise<T> {
    return until(what, probe, { timeoutMs, alive: () => this.checkAlive(), ...(intervalMs === undefined ? {} : { intervalMs }) });
  }

  // ---- the gateway ------------------------------------------------------------------

  /** Starts `coap-fleet server` as the demo does (DTLS on loopback, PSK file, publisher
   * key, ready file) and waits for its ready file. */
  async startGateway(options: GatewayStartOptions = {}): Promise<Daemon> {
    if (this.gateway?.running === true) throw new Error('the gateway is running already');
    const ready = join(this.dir, 'gateway.ready');
    // A kill -9 leaves the previous ready file behind.
    await rm(ready, { force: true });
    const args = [
      'server', '--data-dir', this.gatewayDataDir, '--port', String(options.plainPort ?? 'off'),
      '--dtls-host', '127.0.0.1', '--dtls-port', String(options.dtlsPort ?? 0),
      ...this.#gatewayCredentialArgs(), '--ready-file', ready,
      ...(options.publisherKey === false ? [] : ['--publisher-key-file', this.publisherPublicKeyPath]),
      ...(options.dashboard === true ? ['--dashboard-port', '0', '--dashboard-tokens-file', join(this.keysDir, DASHBOARD_TOKENS_FILE)] : []),
    ];
    const daemon = Daemon.start('gateway', args, this.#logPath('gateway'), options.env);
    this.#daemons.push(daemon);
    this.gateway = daemon;
    const ports = await until('the gateway\'s ready file', () => (existsSync(ready)
      ? JSON.parse(readFileSync(ready, 'utf8')) as { coap_port: number | null; coaps_port: number | null; est_port?: number | null; dashboard_port?: number | null } : undefined),
    { timeoutMs: STARTUP_TIMEOUT_MS, alive: () => daemon.checkAlive() });
    this.coapsPort = ports.coaps_port ?? undefined;
    this.coapPort = ports.coap_port ?? undefined;
    this.estPort = ports.est_port ?? undefined;
    this.dashboardPort = ports.dashboard_port ?? undefined;
    return daemon;
  }

  #gatewayCredentialArgs(): string[] {
    if (this.caDir === undefined) return ['--psk-file', join(this.keysDir, 'gateway-psk.json')];
    // The gateway trusts the intermediate beside the root (ca-bundle.pem): enrolled
    // certificates (RFC 9148 /sen answers one certificate) and libcoap's clients come alone.
    const files = this.certificateFiles('gateway');
    const trust = ['--cert-file', files.cert, '--key-file', files.key, '--ca-file', join(this.caDir, 'ca-bundle.pem')];
    if (this.enrollment === undefined) return trust;
    return [
      ...trust, '--est-port', '0',
      '--enroll-ca-cert-file', join(this.caDir, 'intermediate.crt'), '--enroll-ca-key-file', join(this.caDir, 'intermediate.key'),
      ...(this.enrollment.validityS === undefined ? [] : ['--enroll-certificate-validity-s', String(this.enrollment.validityS)]),
    ];
  }

  /** kill -9 of the gateway; the operator's session goes with it. */
  async killGateway(): Promise<void> {
    await this.#dropOperator();
    await this.gateway?.kill();
  }

  /** Starts the gateway again on the same data directory and the same DTLS port. */
  async restartGateway(options: Omit<GatewayStartOptions, 'dtlsPort'> = {}): Promise<Daemon> {
    if (this.coapsPort === undefined) throw new Error('the gateway never started');
    await this.#dropOperator();
    return this.startGateway({ ...options, dtlsPort: this.coapsPort });
  }

  /** Where the gateway keeps an image (src/server/image-store.ts: images/<sha256>). */
  imagePathOnGateway(sha256: string): string {
    return join(this.gatewayDataDir, 'images', sha256);
  }

  // ---- the operator's side ------------------------------------------------------------

  /** The operator's DTLS client (openGateway with the operator's credentials file), one
   * for the fleet, opened again after a gateway restart. */
  operator(): Promise<GatewayClient> {
    this.#operator ??= openGateway({ gateway: this.gatewayUri, ...this.#clientCredentials(`operator-${OPERATOR}`) });
    return this.#operator;
  }

  /** A DTLS client holding a node's credentials, for authorization checks; the caller
   * closes it. */
  asNode(nodeId: string): Promise<GatewayClient> {
    return openGateway({ gateway: this.gatewayUri, ...this.#clientCredentials(`node-${nodeId}`) });
  }

  async #dropOperator(): Promise<void> {
    const operator = this.#operator;
    this.#operator = undefined;
    if (operator !== undefined) await (await operator.catch(() => undefined))?.close();
  }

  async nodes(): Promise<NodeView[]> {
    return (await (await this.operator()).json<{ nodes: NodeView[] }>(Method.GET, '/nodes')).nodes;
  }

  async status(updateId: string): Promise<StatusView> {
    return (await this.operator()).json<StatusView>(Method.GET, `/updates/${updateId}/status`);
  }

  /** Waits until each of `nodeIds` is registered and online (and at `version`, if given). */
  async waitForNodes(nodeIds: readonly string[], timeoutMs: number, version?: string): Promise<NodeView[]> {
    return this.until(`${nodeIds.join(', ')} registered${version === undefined ? '' : ` at ${version}`}`, async () => {
      const nodes = await this.nodes();
      const ok = nodeIds.every((id) => nodes.some((node) => node.node_id === id && node.online && (version === undefined || node.version === version)));
      return ok ? nodes : undefined;
    }, timeoutMs);
  }

  /** Waits until each of `nodeIds` has registered with the running gateway (its log says
   * so) and the gateway's record of it was seen after `sinceMs` (wall clock); resolves with
   * how long after `sinceMs` each was first seen so, polled every 100 ms. */
  async waitForRegistrationsSince(nodeIds: readonly string[], sinceMs: number, timeoutMs: number): Promise<Map<string, number>> {
    const since = new Date(sinceMs).toISOString();
    const back = new Map<string, number>();
    await this.until(`${nodeIds.join(', ')} registered again`, async () => {
      for (const node of await this.nodes()) if (!back.has(node.node_id) && node.last_seen >= since) back.set(node.node_id, Date.now() - sinceMs);
      const registered = new Set(this.gateway!.entries().filter((entry) => entry.msg === 'node registered').map((entry) => String(entry.node)));
      return nodeIds.every((id) => back.has(id) && registered.has(id)) ? true : undefined;
    }, timeoutMs, 100);
    return back;
  }

  /** A random image in the fleet's directory. */
  image(name: string, size: number): Promise<Image> {
    return writeRandomImage(join(this.dir, name), size);
  }

  /** Signs with the publisher key, POSTs the manifest and uploads the image block-wise
   * (publishImage, as `coap-fleet publish` and the demo do). */
  async publish(options: PublishOptions): Promise<Manifest> {
    return publishImage(await this.operator(), {
      image: options.image.path, version: options.version, updateId: options.updateId ?? `fw-${options.version}`,
      targets: options.targets, policy: { ...DEFAULT_POLICY, ...options.policy }, privateKey: this.publisherPrivateKey,
      ...(options.manifestVersion === undefined ? {} : { manifestVersion: options.manifestVersion }),
    });
  }

  /** Observes the rollout (watchRollout, as `rollout watch` does) until it ends. */
  watch(updateId: string, timeoutMs: number, show: (view: StatusView) => void = () => {}): Promise<StatusView> {
    return watchRollout({ gateway: this.gatewayUri, ...this.#clientCredentials(`operator-${OPERATOR}`) }, updateId, show, timeoutMs);
  }

  /** Polls the status until `accept` says yes. */
  waitForStatus(updateId: string, what: string, accept: (view: StatusView) => boolean, timeoutMs: number): Promise<StatusView> {
    return this.until(`${updateId}: ${what}`, async () => {
      const view = await this.status(updateId);
      return accept(view) ? view : undefined;
    }, timeoutMs);
  }

  /** A lossy UDP proxy in front of the gateway's DTLS port (startFaultProxy). */
  async proxy(faults: FaultOptions, seed: number): Promise<{ readonly proxy: FaultProxy; readonly uri: string }> {
    const proxy = await startFaultProxy({
      listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: this.coapsPort! }, faults, seed,
    });
    this.#proxies.push(proxy);
    return { proxy, uri: `coaps://127.0.0.1:${proxy.address().port}` };
  }

  // ---- agents -----------------------------------------------------------------------

  agentDataDir(nodeId: string): string {
    return join(this.dir, nodeId);
  }

  agentConfigPath(nodeId: string): string {
    return join(this.dir, `${nodeId}.json`);
  }

  /** Writes the agent's config (the demo's, plus `options.config`) and starts
   * `coap-fleet agent --config FILE`. */
  async startAgent(nodeId: string, options: AgentOptions = {}): Promise<Daemon> {
    if (this.agents.get(nodeId)?.running === true) throw new Error(`${nodeId} is running already`);
    const configPath = this.agentConfigPath(nodeId);
    if (!existsSync(configPath) || options.gateway !== undefined || options.config !== undefined) {
      await writeFile(configPath, JSON.stringify({
        node_id: nodeId, gateway: options.gateway ?? this.gatewayUri, data_dir: this.agentDataDir(nodeId),
        publisher_key: this.publisherPublicKeyPath, initial_version: '1.0.0', hardware: 'e2e (loopback)', health_interval_s: 2,
        listen_host: '127.0.0.1', ...this.#agentCredentialConfig(nodeId), ...options.config,
      }, null, 2));
    }
    if (options.env !== undefined) this.#agentEnv.set(nodeId, options.env);
    const daemon = Daemon.start(nodeId, ['agent', '--config', configPath], this.#logPath(nodeId), this.#agentEnv.get(nodeId));
    this.#daemons.push(daemon);
    this.agents.set(nodeId, daemon);
    return daemon;
  }

  /** Asks the gateway, as the operator, for a node's bootstrap credential (keys bootstrap);
   * the path of its credentials file. */
  async bootstrap(nodeId: string, expiresS = 3600): Promise<string> {
    const file = join(this.keysDir, `bootstrap-${nodeId}.json`);
    await createBootstrapCredential(await this.operator(), nodeId, expiresS, file);
    return file;
  }

  /** An enrolling agent's config keys: its bootstrap file, the EST port, where it keeps
   * the key and certificate it gets. */
  enrollingAgentConfig(nodeId: string, bootstrapFile: string): { bootstrap_file: string; enroll_gateway: string; cert_file: string; key_file: string; ca_file: string } {
    return {
      bootstrap_file: bootstrapFile, enroll_gateway: `coaps://127.0.0.1:${this.estPort!}`,
      cert_file: join(this.dir, `${nodeId}-enrolled.crt`), key_file: join(this.dir, `${nodeId}-enrolled.key`), ca_file: this.certificateFiles('gateway').ca,
    };
  }

  #agentCredentialConfig(nodeId: string): Record<string, string> {
    if (this.caDir === undefined) return { psk_identity: `node:${nodeId}`, psk_key_file: this.nodeCredentials(nodeId) };
    const files = this.certificateFiles(`node-${nodeId}`);
    return { cert_file: files.cert, key_file: files.key, ca_file: files.ca };
  }

  /** Starts the agent again with the config and environment it had. */
  restartAgent(nodeId: string): Promise<Daemon> {
    return this.startAgent(nodeId);
  }

  agent(nodeId: string): Daemon {
    const daemon = this.agents.get(nodeId);
    if (daemon === undefined) throw new Error(`no agent ${nodeId}`);
    return daemon;
  }

  /** A slot laid down at the factory: slots/a with the image and its version, `current`
   * pointing at it (src/agent/slots.ts); the agent adopts it at its first start. */
  async seedSlot(nodeId: string, image: Image, version: string): Promise<void> {
    const slots = agentPaths(this.agentDataDir(nodeId)).slots;
    await mkdir(join(slots, 'a'), { recursive: true });
    await copyFile(image.path, join(slots, 'a', 'image.bin'));
    await writeFile(join(slots, 'a', 'version'), `${version}\n`);
    await symlink('a', join(slots, 'current'));
  }

  /** What `slots/current` points at (null: none) and the sha256 of its image. */
  async currentSlot(nodeId: string): Promise<{ readonly slot: string | null; readonly sha256: string | null; readonly version: string | null }> {
    const slots = agentPaths(this.agentDataDir(nodeId)).slots;
    const slot = await readlink(join(slots, 'current')).catch(() => null);
    if (slot === null) return { slot, sha256: null, version: null };
    return {
      slot,
      sha256: await sha256File(join(slots, 'current', 'image.bin')).catch(() => null),
      version: await readFile(join(slots, 'current', 'version'), 'utf8').then((text) => text.trim(), () => null),
    };
  }

  /** The files in the agent's downloads directory (partial and verified images). */
  async downloads(nodeId: string): Promise<string[]> {
    return readdir(agentPaths(this.agentDataDir(nodeId)).downloads).catch(() => []);
  }

  /** The agent's persisted state, read through src/agent/store.ts and closed again. */
  async agentState(nodeId: string): Promise<AgentState> {
    const store = AgentStore.open(agentPaths(this.agentDataDir(nodeId)).state);
    try {
      const updates = store.updates();
      return {
        updates, slots: store.slots(),
        reported: Object.fromEntries(updates.map((record) => [record.updateId, store.reportedState(record.updateId)])),
      };
    } finally {
      await store.close();
    }
  }

  /** Warn-or-worse log lines of every daemon so far that no pattern explains (STYLE: a
   * test fails on an unexpected warn or error line). */
  unexpectedLines(expected: readonly ExpectedLine[] = []): string[] {
    return this.#daemons.flatMap((daemon) => daemon.unexpectedLines(expected));
  }

  // ---- the end --------------------------------------------------------------------------

  dumpLogs(lines = 40): void {
    for (const daemon of this.#daemons) process.stderr.write(`---- ${daemon.name} (${daemon.logPath}), last ${lines} lines\n${daemon.tail(lines)}\n`);
  }

  /** Stops every process (SIGTERM, SIGKILL after a while), closes the proxies and the
   * operator's client, and removes the directory unless `keep`. */
  async close(keep = false): Promise<void> {
    await this.#dropOperator().catch(() => {});
    await Promise.all(this.#daemons.map((daemon) => daemon.stop().catch(() => {})));
    await Promise.all(this.#proxies.map((proxy) => proxy.close().catch(() => {})));
    if (keep) process.stderr.write(`kept ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs `body` with a new fleet; on failure the daemons' last log lines go to stderr; the
 * processes are stopped and the directory removed in any case (kept with
 * COAP_FLEET_E2E_KEEP=1). */
export async function withFleet<T>(options: FleetOptions, body: (fleet: Fleet) => Promise<T>): Promise<T> {
  const fleet = await Fleet.create(options);
  let failed = false;
  try {
    return await body(fleet);
  } catch (error) {
    failed = true;
    fleet.dumpLogs();
    throw error;
  } finally {
    await fleet.close(failed && process.env.COAP_FLEET_E2E_KEEP === '1');
  }
}

/** A request whose answer is returned whatever its code (GatewayClient.json throws on
 * 4.xx/5.xx; authorization tests want the code). */
export function request(client: GatewayClient, method: keyof typeof Method, path: string, body?: unknown, timeoutMs = 15_000): Promise<CoapResponse> {
  return client.endpoint.request({
    uri: `${client.base}${path}`, method: Method[method], accept: ContentFormat.Json, timeoutMs,
    ...(body === undefined ? {} : { payload: JSON.stringify(body), contentFormat: ContentFormat.Json }),
  });
}

