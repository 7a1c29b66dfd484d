// One virtual node of `coap-fleet simulate` (issue 14): the agent's own parts composed as
// agent.ts composes them, on its own DTLS PSK session from its own loopback address:
// registration (with back-off and refresh), the health heartbeat (observable /health, PUT
// while unobserved), observable /metrics, the /updates watch, NodeUpdates with the real
// manifest checks, block-wise download (Q-Block2) with per-chunk verification and status
// reports. What differs: its figures are made up, its records live in memory and its
// install writes no slot (simulated-installer.ts). Optional datagram loss on its side.

import type { KeyObject } from 'node:crypto';
import type { DaemonLogger } from '../fleet/logger.js';
import { protocolLogger } from '../fleet/logger.js';
import type { MetricsSample } from '../fleet/node-views.js';
import type { HealthReport } from '../fleet/schemas.js';
import { isTerminal } from '../fleet/update-state.js';
import { DtlsEndpoint } from '../dtls/dtls-endpoint.js';
import { DtlsTransport } from '../dtls/transport-dtls.js';
import type { CongestionControl } from '../protocol/parameters.js';
import type { Random } from '../protocol/interfaces.js';
import { systemClock } from '../protocol/runtime.js';
import { SeededRandom } from '../protocol/seeded-random.js';
import { FaultyTransport } from '../protocol/transport-faulty.js';
import { UdpTransport } from '../protocol/transport-udp.js';
import type { BlockTransfer } from './config.js';
import { DownloadTuning } from './download-tuning.js';
import { GatewayLink } from './gateway-link.js';
import { HealthHeartbeat } from './health-heartbeat.js';
import { MemoryUpdateStore } from './memory-update-store.js';
import { addMetricsResource } from './metrics-resource.js';
import { MetricsSampler } from './metrics-sampler.js';
import { NodeUpdates } from './node-updates.js';
import { Registration } from './registration.js';
import { SimulatedInstaller } from './simulated-installer.js';
import { StatusReporter } from './status-reporter.js';
import { Stopper } from './stopper.js';
import { UpdatesWatch } from './updates-watch.js';

/** Samples a virtual node keeps for GET /metrics?since= (the agent keeps metrics_history). */
const METRICS_HISTORY = 4;
/** Error kinds counted per node; more distinct kinds go under "other". */
const MAX_ERROR_KINDS = 16;

/** What every virtual node of a run shares with the others (the agent's settings). */
export interface SimulatedNodeSettings {
  readonly initialVersion: string;
  readonly hardware: string;
  readonly healthIntervalMs: number;
  readonly registerIntervalMs: number;
  readonly metricsIntervalS: number;
  readonly installMaxWaitMs: number;
  readonly blockTransfer: BlockTransfer;
  readonly retransmission: CongestionControl;
}

export interface SimulatedNodeOptions extends SimulatedNodeSettings {
  readonly nodeId: string;
  readonly psk: { readonly identity: string; readonly key: Buffer };
  /** coaps://host:port of the gateway. */
  readonly gateway: string;
  /** The loopback address the node's socket binds (its own source address). */
  readonly host: string;
  readonly publisherKey: KeyObject;
  /** Where its partial downloads go (removed with each outcome, as the agent's). */
  readonly downloadsDir: string;
  /** Share of datagrams dropped on this node's side, each way (0..1). */
  readonly loss: number;
  /** Seeds the node's loss and figures. */
  readonly seed: number;
  /** Whether its install of an update fails. */
  readonly failsInstall: (updateId: string) => boolean;
  readonly log: DaemonLogger;
}

/** The counts a node keeps and the simulator sums as they are. */
export interface NodeCounts {
  registrations: number;
  registrationRetries: number;
  /** Health samples taken: each goes to the gateway as a /health notification while it
   * observes, else in a PUT (counted below). */
  healthSamples: number;
  healthReports: number;
  healthReportsFailed: number;
  handshakes: number;
  handshakeFailures: number;
  installed: number;
  installFailed: number;
  /** Error codes (COAP_ERR_TIMEOUT, DTLS_ERR_…) of failed registrations and reports. */
  errors: Record<string, number>;
}

/** What one node has seen; summed over the fleet by the simulator. */
export interface NodeCounters extends NodeCounts {
  registered: boolean;
  /** Milliseconds from the node's start to its first registration; -1 before. */
  firstRegisteredMs: number;
}

export class SimulatedNode {
  readonly nodeId: string;
  readonly #endpoint: DtlsEndpoint;
  readonly #stop = new Stopper(systemClock);
  readonly #store = new MemoryUpdateStore();
  readonly #registration: Registration;
  readonly #heartbeat: HealthHeartbeat;
  readonly #sampler: MetricsSampler;
  readonly #reporter: StatusReporter;
  readonly #updates: NodeUpdates;
  readonly #watch: UpdatesWatch;
  readonly #startedAt = Date.now();
  readonly #counters: Omit<NodeCounters, 'handshakes' | 'handshakeFailures' | 'installed' | 'installFailed'> = {
    registered: false, firstRegisteredMs: -1, registrations: 0, registrationRetries: 0, healthSamples: 0, healthReports: 0, healthReportsFailed: 0, errors: {},
  };
  #watching: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;

  private constructor(options: SimulatedNodeOptions, endpoint: DtlsEndpoint, random: Random) {
    const { nodeId, log } = options;
    this.nodeId = nodeId;
    this.#endpoint = endpoint;
    const clock = systemClock;
    const stop = this.#stop;
    const link = new GatewayLink(endpoint, options.gateway, nodeId, () => void this.#registration.register('the gateway answers again'));
    const agentStartedAt = new Date(this.#startedAt).toISOString();
    const installedVersion = (): string => this.#store.slots().version ?? options.initialVersion;
    this.#registration = new Registration({
      gateway: { register: (registration, signal) => this.#counted(link.register(registration, signal), 'registration') },
      stop, clock, log, intervalMs: options.registerIntervalMs,
      registration: () => ({
        node_id: nodeId, version: installedVersion(), hardware: options.hardware, agent_port: endpoint.address().port, agent_started_at: agentStartedAt,
      }),
    });
    this.#heartbeat = new HealthHeartbeat({
      endpoint, gateway: { putHealth: (id, report, signal) => this.#counted(link.putHealth(id, report, signal), 'health') }, nodeId,
      sample: async () => {
        this.#counters.healthSamples++;
        return healthOf(random, this.#startedAt);
      }, intervalMs: options.healthIntervalMs, clock, stop, log,
      onUnknownNode: () => void this.#registration.register('the gateway does not know this node'),
    });
    this.#sampler = new MetricsSampler({
      source: { sample: async (at) => metricsOf(random, this.#startedAt, at) }, clock, intervalS: options.metricsIntervalS, history: METRICS_HISTORY, log,
    });
    this.#reporter = new StatusReporter(link, this.#store, log, clock);
    this.#updates = new NodeUpdates({
      store: this.#store, gateway: link, reporter: this.#reporter, installer: new SimulatedInstaller(this.#store, options.failsInstall), log, stop, clock,
      nodeId, publisherKey: options.publisherKey, downloadsDir: options.downloadsDir, tuning: new DownloadTuning(options.blockTransfer),
      installMaxWaitMs: options.installMaxWaitMs, installedVersion,
      onInstalled: () => void this.#registration.register('a new version was committed'),
    });
    this.#watch = new UpdatesWatch({
      gateway: link, register: () => this.#registration.register('observing /updates'),
      onUpdates: (response) => this.#updates.handleUpdates(response), log, stop: stop.soft, clock, random,
    });
  }

  /** Binds the node's socket on `options.host` and goes online as the agent does. */
  static async start(options: SimulatedNodeOptions): Promise<SimulatedNode> {
    const random = new SeededRandom(options.seed);
    const endpoint = await openEndpoint(options, random);
    const node = new SimulatedNode(options, endpoint, random);
    node.#heartbeat.serve();
    addMetricsResource(endpoint, { nodeId: options.nodeId, sampler: node.#sampler });
    await node.#sampler.start();
    await node.#heartbeat.start();
    node.#registration.startRefreshing();
    // As the agent: a DTLS session that ended took the gateway's observations with it.
    endpoint.onPeerGone(() => {
      if (!node.#stop.requested && !node.#watch.renew()) void node.#registration.register('the DTLS session with the gateway ended');
    });
    node.#watching = node.#watch.run();
    return node;
  }

  counters(): NodeCounters {
    const { handshakes, handshakeFailures } = this.#endpoint.transport.stats().counters;
    const outcomes = this.#store.updates().filter((record) => isTerminal(record.state));
    return {
      ...this.#counters, errors: { ...this.#counters.errors }, handshakes, handshakeFailures,
      installed: outcomes.filter((record) => record.state === 'installed').length,
      installFailed: outcomes.filter((record) => record.state !== 'installed').length,
    };
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stop.request();
      this.#heartbeat.stop();
      this.#registration.stopRefreshing();
      await this.#sampler.stop();
      await this.#updates.stop();
      await this.#reporter.stop();
      await this.#registration.pending;
      await this.#watching;
      this.#stop.dispose();
      await this.#endpoint.close();
    })();
    return this.#stopped;
  }

  /** Counts a registration's or a health report's outcome, and its error by code. */
  async #counted<T>(exchange: Promise<T>, what: 'registration' | 'health'): Promise<T> {
    const counters = this.#counters;
    try {
      const result = await exchange;
      if (what === 'health') counters.healthReports++;
      else {
        counters.registrations++;
        if (!counters.registered) counters.firstRegisteredMs = Date.now() - this.#startedAt;
        counters.registered = true;
      }
      return result;
    } catch (error) {
      if (what === 'health') counters.healthReportsFailed++;
      else if (!this.#stop.requested) counters.registrationRetries++;
      if (!this.#stop.requested) countError(counters.errors, error);
      throw error;
    }
  }
}

async function openEndpoint(options: SimulatedNodeOptions, random: Random): Promise<DtlsEndpoint> {
  const logger = protocolLogger(options.log);
  const udp = await UdpTransport.bind({ host: options.host, port: 0 });
  try {
    const carrier = options.loss > 0 ? new FaultyTransport(udp, { loss: options.loss }, random, systemClock) : udp;
    const transport = await DtlsTransport.over(carrier, { role: 'client', mode: 'psk', psk: options.psk, logger });
    return new DtlsEndpoint(transport, { logger, parameters: { congestionControl: options.retransmission } });
  } catch (error) {
    await udp.close();
    throw error;
  }
}

function countError(errors: Record<string, number>, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  let kind = typeof code === 'string' ? code : 'other';
  if (!(kind in errors) && Object.keys(errors).length >= MAX_ERROR_KINDS) kind = 'other';
  errors[kind] = (errors[kind] ?? 0) + 1;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

function healthOf(random: Random, startedAt: number): HealthReport {
  return {
    status: 'healthy', cpu_percent: round1(5 + random.float() * 20), memory_percent: round1(30 + random.float() * 10),
    temperature: round1(40 + random.float() * 10), uptime_s: Math.round((Date.now() - startedAt) / 1000), timestamp: new Date().toISOString(),
  };
}

const MEMORY_TOTAL = 1024 ** 3;

function metricsOf(random: Random, startedAt: number, at: Date): MetricsSample {
  const memoryPercent = 30 + random.float() * 10;
  return {
    at: at.toISOString(), cpu_percent: round1(5 + random.float() * 20), memory_total_bytes: MEMORY_TOTAL,
    memory_available_bytes: Math.round(MEMORY_TOTAL * (1 - memoryPercent / 100)), memory_percent: round1(memoryPercent),
    load: [round1(random.float()), 0.5, 0.5], temperature: round1(40 + random.float() * 10), uptime_s: Math.round((Date.now() - startedAt) / 1000),
    disks: [], network: [],
  };
}
