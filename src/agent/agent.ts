// The node agent daemon (`coap-fleet agent`, DESIGN §1, §5, §7): recovers its install
// state, registers with the gateway (again on every (re)connection of the /updates
// observation, when the gateway comes back after failures, when it no longer knows this
// node, after a new version is committed, and every register_interval_s), pushes health
// every health_interval_s, watches /updates (updates-watch.ts) and hands the offers to
// NodeUpdates (node-updates.ts). It serves its own resources to the gateway, the signed
// commands among them (command-resources.ts). stop() ends it cleanly. The agent's timers
// run on the clock of AgentOptions, so tests can drive them on a virtual one.

import { join } from 'node:path';
import { checkStore } from '../fleet/store-check.js';
import { isValidVersion } from '../fleet/version.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { Clock, PeerAddress, Random } from '../protocol/interfaces.js';
import { systemClock, systemRandom } from '../protocol/runtime.js';
import type { AgentConfig } from './config.js';
import { DownloadTuning } from './download-tuning.js';
import { GatewayLink } from './gateway-link.js';
import { createInstallAdapter } from './install-adapters.js';
import { Installer } from './installer.js';
import { AgentConfigError, DirectoryNotWritableError } from './errors.js';
import { CommandAudit, type CommandAuditEntry } from './command-audit.js';
import { CommandGate } from './command-gate.js';
import { addCommandResources, serviceCommandHandler } from './command-resources.js';
import { LmdbNonceLedger } from './nonce-ledger-lmdb.js';
import { NodeSettings } from './node-settings.js';
import { SystemPower, type PowerOutcome } from './system-power.js';
import { Stopper } from './stopper.js';
import { protocolLogger, type DaemonLogger as AgentLogger } from '../fleet/logger.js';
import { HealthHeartbeat } from './health-heartbeat.js';
import { Registration } from './registration.js';
import { SlotDirectory } from './slots.js';
import { StatusReporter } from './status-reporter.js';
import { AgentStore } from './store.js';
import { SystemHealth } from './system-health.js';
import { createGatewayEndpoint } from './transport.js';
// Enrollment and renewal are imported where a configuration asks for them: they bring the
// X.509 stack (@peculiar/x509, reflect-metadata), megabytes of heap a PSK node never uses.
import type { CertificateRenewal } from './certificate-renewal.js';
import { NodeUpdates } from './node-updates.js';
import { UpdatesWatch } from './updates-watch.js';
import { ensureWritableDirectory } from './writable-directory.js';
import { addReadResources, type ReadResources } from './read-resources.js';
import { addReadinessResource } from './readiness-resource.js';
import type { InstallAdapter } from './interfaces.js';

export interface AgentPaths {
  readonly state: string;
  readonly downloads: string;
  readonly slots: string;
}

export const agentPaths = (dataDir: string): AgentPaths => ({
  state: join(dataDir, 'state'), downloads: join(dataDir, 'downloads'), slots: join(dataDir, 'slots'),
});

/** What the agent takes from outside besides its configuration: time (its timers, waits
 * and deadlines), the calendar time (a signed command's not_after; the Clock is monotonic)
 * and randomness (jittered back-off); the real ones unless a test gives its own (a
 * VirtualClock, a SeededRandom). Not given to the CoAP endpoint, whose exchanges are real
 * I/O on real time, nor to the hooks' time limits (run-command.ts). */
export interface AgentOptions {
  readonly clock?: Clock;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly random?: Random;
}

export class Agent {
  readonly config: AgentConfig;
  readonly paths: AgentPaths;
  readonly #log: AgentLogger;
  readonly #store: AgentStore;
  readonly #endpoint: Endpoint;
  readonly #gateway: GatewayLink;
  readonly #reporter: StatusReporter;
  readonly #updates: NodeUpdates;
  readonly #clock: Clock;
  /** Sent with every registration: a new one tells the gateway this agent restarted. */
  readonly #startedAt: string;
  readonly #random: Random;
  readonly #heartbeat: HealthHeartbeat;
  readonly #registration: Registration;
  #read: ReadResources | undefined;
  readonly #stop: Stopper;
  readonly #audit: CommandAudit;
  readonly #gate: CommandGate;
  readonly #settings: NodeSettings;
  readonly #power: SystemPower;
  readonly #slots: SlotDirectory;
  readonly #adapter: InstallAdapter;
  #watchingUpdates: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;
  #renewal: CertificateRenewal | undefined;

  private constructor(
    config: AgentConfig, log: AgentLogger, store: AgentStore, endpoint: Endpoint, slots: SlotDirectory, options: AgentOptions,
  ) {
    this.config = config;
    this.paths = agentPaths(config.dataDir);
    this.#log = log;
    this.#store = store;
    this.#endpoint = endpoint;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#stop = new Stopper(this.#clock);
    const now = options.now ?? Date.now;
    this.#startedAt = new Date(now()).toISOString();
    // Expired nonces are swept when the ledger is full (nonce-ledger-lmdb.ts).
    const nonces = new LmdbNonceLedger(store);
    this.#audit = new CommandAudit(store, log.child({ component: 'commands' }));
    this.#gate = new CommandGate({ nodeId: config.nodeId, keys: config.operatorKeys, now, nonces, audit: this.#audit });
    this.#settings = new NodeSettings(config);
    this.#power = new SystemPower({
      stopAgent: () => this.stop(), commands: { restart: config.restartCommand, shutdown: config.shutdownCommand },
      timeoutMs: config.systemCommandTimeoutMs, log,
    });
    this.#slots = slots;
    this.#adapter = createInstallAdapter(config);
    this.#gateway = new GatewayLink(endpoint, config.gateway, config.nodeId, () => void this.#register('the gateway answers again'));
    this.#registration = new Registration({
      gateway: this.#gateway, stop: this.#stop, clock: this.#clock, log, intervalMs: config.registerIntervalMs,
      registration: () => ({
        node_id: config.nodeId, version: this.installedVersion(), hardware: config.hardware, agent_port: endpoint.address().port,
        agent_started_at: this.#startedAt,
        ...(config.tags.length === 0 ? {} : { tags: config.tags }),
      }),
    });
    const health = new SystemHealth();
    this.#heartbeat = new HealthHeartbeat({
      endpoint, gateway: this.#gateway, nodeId: config.nodeId, sample: () => health.sample(), intervalMs: config.healthIntervalMs,
      clock: this.#clock, stop: this.#stop, log, onUnknownNode: () => void this.#register('the gateway does not know this node'),
    });
    this.#applySettingsLive();
    this.#reporter = new StatusReporter(this.#gateway, store, log.child({ component: 'status' }), this.#clock);
    const installer = new Installer({
      slots, adapter: this.#adapter, store, installedVersion: () => this.installedVersion(),
      healthCheck: { command: config.healthCheckCommand, timeoutMs: config.healthCheckTimeoutMs },
      reboot: { command: config.rebootCommand, timeoutMs: config.rebootTimeoutMs }, stop: this.#stop, clock: this.#clock,
    });
    this.#updates = new NodeUpdates({
      store, gateway: this.#gateway, reporter: this.#reporter, installer, log: log.child({ component: 'updates' }),
      stop: this.#stop, clock: this.#clock, nodeId: config.nodeId, publisherKey: config.publisherKey, downloadsDir: this.paths.downloads,
      tuning: new DownloadTuning(config.blockTransfer),
      installMaxWaitMs: config.installMaxWaitMs, installedVersion: () => this.installedVersion(),
      onInstalled: () => void this.#register('a new version was committed'),
    });
  }

  /** Opens the state, finishes what a crash interrupted, then goes online. */
  static async start(given: AgentConfig, log: AgentLogger, options: AgentOptions = {}): Promise<Agent> {
    // No certificate yet but a bootstrap credential: enroll first (RFC 9148), then run on it.
    const enrollment = given.enrollment;
    let config = given;
    if (given.dtls === undefined && enrollment?.bootstrap !== undefined) {
      const { enrollPatiently } = await import('./enrollment.js');
      config = { ...given, dtls: await enrollPatiently(enrollment, given.nodeId, given.listenHost ?? '0.0.0.0', log) };
    }
    const paths = agentPaths(config.dataDir);
    const slots = new SlotDirectory(paths.slots);
    try {
      await ensureWritableDirectory('state', paths.state);
      await ensureWritableDirectory('download', paths.downloads);
      await slots.init();
    } catch (error) {
      // Nothing could be kept or installed: as wrong as a bad setting, and found before going online.
      if (error instanceof DirectoryNotWritableError) throw new AgentConfigError([`data_dir: ${error.message}`]);
      throw error;
    }
    // A damaged data.mdb would kill the agent inside LMDB, with no word: stop with one.
    await checkStore(paths.state, { databases: [] });
    const store = AgentStore.open(paths.state);
    let endpoint: Endpoint;
    try {
      endpoint = await createGatewayEndpoint(config, protocolLogger(log.child({ component: 'coap' })));
    } catch (error) {
      await store.close();
      throw error;
    }
    const agent = new Agent(config, log, store, endpoint, slots, options);
    try {
      await agent.#updates.recover();
      await agent.#checkCurrent(slots);
    } catch (error) {
      await endpoint.close();
      await store.close();
      throw error;
    }
    agent.#serve();
    await agent.#read?.start();
    await agent.#heartbeat.start();
    agent.#registration.startRefreshing();
    const watch = new UpdatesWatch({
      gateway: agent.#gateway, register: () => agent.#register('observing /updates'),
      onUpdates: (response) => agent.#updates.handleUpdates(response), log, stop: agent.#stop.soft, clock: agent.#clock, random: agent.#random,
    });
    // The DTLS session with the gateway ended (a close_notify, a fatal alert, or a session
    // the transport found dead through unanswered retransmissions): a gateway that lost it
    // may have restarted, and its observation of our /health and ours of its /updates went
    // with it. Register and observe again now (the watch registers before it observes),
    // not at the next period.
    endpoint.onPeerGone(() => {
      if (!agent.#stop.requested && !watch.renew()) void agent.#register('the DTLS session with the gateway ended');
    });
    agent.#watchingUpdates = watch.run();
    agent.#updates.kick();
    if (enrollment !== undefined && config.dtls?.mode === 'certificate') {
      const { CertificateRenewal } = await import('./certificate-renewal.js');
      agent.#renewal = new CertificateRenewal({ endpoint, gateway: config.gateway, settings: enrollment, nodeId: config.nodeId, log: log.child({ component: 'enrollment' }), clock: agent.#clock });
      agent.#renewal.start(config.dtls.cert);
    }
    log.info({ gateway: config.gateway, version: agent.installedVersion(), agent_port: endpoint.address().port, adapter: config.installAdapter }, 'agent started');
    return agent;
  }

  /** The committed slot's version; initial_version until a slot is committed. */
  installedVersion(): string {
    return this.#store.slots().version ?? this.config.initialVersion;
  }

  address(): PeerAddress {
    return this.#endpoint.address();
  }

  /** Resolves once a signed restart or shutdown has stopped the agent and run its
   * command: the daemon has nothing left to do. */
  halted(): Promise<PowerOutcome> {
    return this.#power.finished();
  }

  /** For tests: the command audit, oldest first. */
  commandAudit(): CommandAuditEntry[] {
    return this.#audit.entries();
  }

  /** Ends after the block in hand (its progress persisted) or the install in hand;
   * unsent outcomes are sent at the next start. */
  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async #shutdown(): Promise<void> {
    this.#stop.request();
    this.#renewal?.stop();
    this.#heartbeat.stop();
    this.#registration.stopRefreshing();
    await this.#updates.stop();
    await this.#read?.stop();
    await this.#reporter.stop();
    await this.#registration.pending;
    await this.#watchingUpdates;
    this.#stop.dispose();
    await this.#endpoint.close();
    await this.#store.close();
    this.#log.info('agent stopped');
  }

  /** `current` is the committed slot whenever no install is in flight. A slot in use
   * with nothing committed (state wiped, or a slot laid down at the factory) is adopted
   * with its version file; any other difference is a switch LMDB never committed: back. */
  async #checkCurrent(slots: SlotDirectory): Promise<void> {
    if (this.#store.updates().some((record) => record.state === 'installing')) return;
    const committed = this.#store.slots().committed;
    const active = await slots.active();
    if (active === committed) return;
    const version = active === null ? undefined : await slots.version(active);
    if (committed === null && active !== null && version !== undefined && isValidVersion(version)) {
      this.#log.info({ slot: active, version }, 'adopting the slot in use');
      await this.#store.saveSlots({ committed: active, version, updateId: null });
      return;
    }
    this.#log.warn({ current: active, committed }, 'current slot differs from the committed one: switching back');
    await slots.switchTo(committed);
  }

  /** The settings a signed config.set applies at once; the others wait for the next start. */
  #applySettingsLive(): void {
    const settings = this.#settings;
    // Child loggers follow their root's level unless given their own.
    settings.onSettingChanged('log_level', (level) => { this.#log.level = level as string; });
    settings.onSettingChanged('health_interval_s', (seconds) => this.#heartbeat.setIntervalMs((seconds as number) * 1000));
    settings.onSettingChanged('register_interval_s', (seconds) => this.#registration.setIntervalMs((seconds as number) * 1000));
    settings.onSettingChanged('metrics_interval_s', (seconds) => this.#read?.sampler.setIntervalS(seconds as number));
    settings.onSettingChanged('allowed_units', (units) => this.#read?.services.setAllowedUnits(units as readonly string[]));
  }

  /** The agent's own resources, which the gateway reaches over the session this agent
   * opened (DESIGN §5): /health, the read resources (/metrics, /logs, /services),
   * /update-readiness and the signed commands (/services/{name} POST, /system/*). */
  #serve(): void {
    this.#read = addReadResources(this.#endpoint, this.config, this.#clock, this.#log, {
      servicePost: (services) => serviceCommandHandler(this.config.nodeId, {
        act: (unit, action) => services.manager.act(unit, action), allowed: () => services.units,
      }, this.#gate),
    });
    addReadinessResource(this.#endpoint, {
      nodeId: this.config.nodeId, dataDir: this.config.dataDir, reservedBytes: this.config.reservedSpaceBytes,
      adapter: this.#adapter, slots: this.#slots, store: this.#store, installedVersion: () => this.installedVersion(),
    });
    addCommandResources({ router: this.#endpoint.router, nodeId: this.config.nodeId, gate: this.#gate, settings: this.#settings, power: this.#power });
    this.#heartbeat.serve();
  }

  /** Registers, retrying with back-off until it succeeds or the agent stops; concurrent
   * callers share one attempt. */
  #register(why: string): Promise<boolean> {
    return this.#registration.register(why);
  }

  /** For tests: resolves when the offers received so far are taken in and the reports
   * queued so far are sent. */
  async settled(): Promise<void> {
    await this.#updates.settled();
    await this.#reporter.idle();
  }
}
