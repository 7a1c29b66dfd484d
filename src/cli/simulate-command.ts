// `coap-fleet simulate` (issue 14): N virtual nodes on the agent's own code paths
// (src/agent/simulated-node.ts), each with its own DTLS PSK session from its own loopback
// address, sharded over worker processes (simulate-worker.ts) to use every core. Prints,
// every few seconds and at the end, the simulator's counters beside the gateway's view
// (read with the operator's credentials: src/operator/fleet-view.ts); with --json, one
// JSON object a line. Runs until --duration-s, --until-registered, or SIGINT/SIGTERM.

import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FIELDS } from '../agent/config.js';
import { openGateway, type GatewayClient } from '../operator/gateway-client.js';
import { readFleetView, type FleetView } from '../operator/fleet-view.js';
import { parseUri } from '../protocol/uri.js';
import { loadPskFile } from '../server/credentials.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import type { CliIo } from './output.js';
import type { FromWorker, ToWorker, WorkerSettings } from './simulate-protocol.js';
import { planShards, type NodeAssignment } from './simulate-shards.js';
import { emptyTally, sumTallies, type Tally } from './simulate-tally.js';
import { SIMULATE_SYNOPSIS } from './synopses.js';

const FLAGS = {
  gateway: { type: 'string', value: 'URI', description: 'the gateway, coaps://HOST:PORT (required)' },
  nodes: { type: 'string', value: 'N', description: 'virtual nodes to run (required)' },
  credentials: { type: 'string', value: 'FILE', description: 'the nodes\' PSKs: nodes-psk.json of keys generate (required)' },
  'operator-credentials': { type: 'string', value: 'FILE', description: 'for the gateway\'s view (default operator-admin.json beside --credentials)' },
  'publisher-key': { type: 'string', value: 'FILE', description: 'pinned manifest key (default publisher.pub beside --credentials)' },
  'health-interval': { type: 'string', value: 'S', description: `health report period (default the agent's, ${CONFIG_FIELDS.health_interval_s.default})` },
  'metrics-interval': { type: 'string', value: 'S', description: `metrics sampling period (default ${CONFIG_FIELDS.metrics_interval_s.default})` },
  'register-interval': { type: 'string', value: 'S', description: `registration refresh period (default ${CONFIG_FIELDS.register_interval_s.default})` },
  loss: { type: 'string', value: 'P', description: 'share of datagrams dropped on the nodes\' side, each way (default 0)' },
  'fail-rate': { type: 'string', value: 'P', description: 'share of nodes whose install of an update fails (default 0)' },
  workers: { type: 'string', value: 'K', description: 'worker processes (default: one per core)' },
  'duration-s': { type: 'string', value: 'S', description: 'stop after this long (default: at SIGINT/SIGTERM)' },
  'until-registered': { type: 'boolean', description: 'stop once every node has registered (a registration storm)' },
  'ramp-s': { type: 'string', value: 'S', description: 'spread the node starts over this long (default 0: all at once)' },
  'base-address': { type: 'string', value: 'A', description: 'first node\'s source address; one each, counted up (default 127.1.0.1)' },
  'report-every-s': { type: 'string', value: 'S', description: 'progress every this long (default 5)' },
  'view-every-s': { type: 'string', value: 'S', description: 'read the gateway\'s view every this long (default 10; 0: at the end only)' },
  'block-transfer': { type: 'string', value: 'qblock2|block2', description: 'how images are downloaded (default the agent\'s, qblock2)' },
  'log-level': { type: 'string', value: 'LEVEL', description: 'the nodes\' log lines on stderr (default error)' },
  json: { type: 'boolean', description: 'one JSON object a line: progress, then the summary' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;


export const simulateUsage = (): string => `Usage: coap-fleet ${SIMULATE_SYNOPSIS}\n\n`
  + 'Runs N virtual nodes against a gateway on the agent\'s own code: DTLS PSK session, registration,\n'
  + 'health and metrics, the /updates observation, block-wise downloads, status reports, installs\n'
  + '(no slot written). Prints its counters beside the gateway\'s view: nodes registered and online,\n'
  + 'rollout progress, errors by kind.\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

const MAX_NODES = 100_000;
/** A worker's last word after a stop; then it is killed. */
const WORKER_STOP_TIMEOUT_MS = 25_000;

interface Run {
  readonly startedAt: number;
  readonly nodes: number;
  readonly workers: number;
  tallies: Tally[];
  /** When every node had registered (seconds from the start), as the simulator saw it. */
  allRegisteredS: number | null;
  view: FleetView | null;
  viewError: string | null;
  /** Set once the parent asks the workers to stop: an exit before it is worth a word. */
  stopping: boolean;
}

export async function runSimulateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(simulateUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (flags.gateway === undefined || flags.nodes === undefined || flags.credentials === undefined) {
    throw new UsageError('--gateway, --nodes and --credentials are required');
  }
  if (parseUri(flags.gateway).scheme !== 'coaps') throw new UsageError('--gateway: a coaps:// URI (every virtual node has its own DTLS session)');
  const count = parseNumber(flags.nodes, 'nodes', { min: 1, max: MAX_NODES, integer: true });
  const keysDir = dirname(flags.credentials);
  const table = await loadPskFile(flags.credentials).catch((error: unknown) => {
    throw new UsageError(`--credentials: ${(error as Error).message.replace(/^psk_file: /, '')}`, { cause: error });
  });
  const publisherKeyFile = flags['publisher-key'] ?? join(keysDir, 'publisher.pub');
  if (!existsSync(publisherKeyFile)) throw new UsageError(`--publisher-key: ${publisherKeyFile} does not exist`);
  const operatorCredentials = flags['operator-credentials'] ?? join(keysDir, 'operator-admin.json');
  const blockTransfer = flags['block-transfer'] ?? CONFIG_FIELDS.block_transfer.default;
  if (blockTransfer !== 'qblock2' && blockTransfer !== 'block2') throw new UsageError('--block-transfer: qblock2 or block2');
  const seconds = (flag: keyof typeof FLAGS, fallback: number, min = 0.1): number => {
    const text = flags[flag];
    return typeof text === 'string' ? parseNumber(text, flag, { min, max: 86_400 }) : fallback;
  };
  const share = (flag: 'loss' | 'fail-rate'): number => (flags[flag] === undefined ? 0 : parseNumber(flags[flag], flag, { min: 0, max: 1 }));
  const workers = flags.workers === undefined ? availableParallelism() : parseNumber(flags.workers, 'workers', { min: 1, max: 64, integer: true });
  const shards = planShards(new Map([...table].map(([identity, key]) => [identity, key.toString('hex')])), count, workers, flags['base-address'] ?? '127.1.0.1');
  const durationMs = flags['duration-s'] === undefined ? Infinity : seconds('duration-s', 0, 1) * 1000;
  const reportEveryMs = seconds('report-every-s', 5, 0.5) * 1000;
  const viewEveryMs = seconds('view-every-s', 10, 0) * 1000;

  const workDir = await mkdtemp(join(tmpdir(), 'coap-fleet-simulate-'));
  const settings: WorkerSettings = {
    gateway: flags.gateway.replace(/\/+$/, ''), publisherKeyPem: readFileSync(publisherKeyFile, 'utf8'),
    initialVersion: CONFIG_FIELDS.initial_version.default, hardware: 'coap-fleet simulate',
    healthIntervalMs: seconds('health-interval', CONFIG_FIELDS.health_interval_s.default) * 1000,
    registerIntervalMs: seconds('register-interval', CONFIG_FIELDS.register_interval_s.default, 1) * 1000,
    metricsIntervalS: seconds('metrics-interval', CONFIG_FIELDS.metrics_interval_s.default, 1),
    installMaxWaitMs: CONFIG_FIELDS.install_max_wait_s.default * 1000, blockTransfer, retransmission: CONFIG_FIELDS.retransmission.default,
    loss: share('loss'), failRate: share('fail-rate'), workDir, rampMs: seconds('ramp-s', 0, 0) * 1000, logLevel: flags['log-level'] ?? 'error',
  };
  let operator: GatewayClient | undefined;
  try {
    operator = existsSync(operatorCredentials) ? await openGateway({ gateway: settings.gateway, credentials: operatorCredentials }) : undefined;
    const run: Run = {
      startedAt: Date.now(), nodes: count, workers: shards.length, tallies: shards.map(() => emptyTally()),
      allRegisteredS: null, view: null, stopping: false, viewError: operator === undefined ? `no operator credentials (${operatorCredentials})` : null,
    };
    const children = shards.map((nodes, worker) => startWorker(worker, nodes, settings, run, io));
    const reason = await runUntilDone(run, children, io, { durationMs, reportEveryMs, viewEveryMs, untilRegistered: flags['until-registered'] === true, operator, json: flags.json === true });
    run.stopping = true;
    await Promise.all(children.map((child) => stopWorker(child)));
    if (operator !== undefined) await refreshView(run, operator);
    io.stdout.write(flags.json === true ? `${JSON.stringify({ type: 'summary', reason, ...report(run) })}\n` : summaryText(run, reason));
    return 0;
  } finally {
    await operator?.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

interface Worker {
  readonly child: ChildProcess;
  readonly stopped: Promise<void>;
}

function startWorker(worker: number, nodes: readonly NodeAssignment[], settings: WorkerSettings, run: Run, io: CliIo): Worker {
  const child = fork(fileURLToPath(new URL('./simulate-worker.js', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const stopped = new Promise<void>((resolve) => {
    child.on('message', (message: FromWorker) => {
      run.tallies[worker] = message.tally;
      if (message.kind === 'stopped') resolve();
    });
    child.once('exit', (code, signal) => {
      // Its nodes are gone; the others run on, and its last tally stays in the sums.
      if (!run.stopping) io.stderr.write(`coap-fleet simulate: worker ${worker} exited (${code ?? signal}); its ${nodes.length} nodes stopped\n`);
      resolve();
    });
  });
  const start: ToWorker = { kind: 'start', worker, nodes, settings };
  child.send(start);
  return { child, stopped };
}

async function stopWorker(worker: Worker): Promise<void> {
  const { child } = worker;
  if (child.exitCode === null && child.signalCode === null && child.connected) child.send({ kind: 'stop' } satisfies ToWorker);
  const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_STOP_TIMEOUT_MS);
  await worker.stopped;
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
}

interface Pace {
  readonly durationMs: number;
  readonly reportEveryMs: number;
  readonly viewEveryMs: number;
  readonly untilRegistered: boolean;
  readonly operator: GatewayClient | undefined;
  readonly json: boolean;
}

/** Reports until the run is over; resolves with why it ended. */
async function runUntilDone(run: Run, workers: readonly Worker[], io: CliIo, pace: Pace): Promise<string> {
  let signal: string | undefined;
  void io.shutdown().then((name) => { signal = name; });
  let lastView = 0;
  let lastReport = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = Date.now();
    const tally = sumTallies(run.tallies);
    if (run.allRegisteredS === null && tally.registered === run.nodes) run.allRegisteredS = (now - run.startedAt) / 1000;
    const reason = signal !== undefined ? `stopped by ${signal}`
      : pace.untilRegistered && run.allRegisteredS !== null ? 'every node registered'
        : now - run.startedAt >= pace.durationMs ? 'duration reached'
          : workers.every(({ child }) => child.exitCode !== null || child.signalCode !== null) ? 'every worker exited' : undefined;
    if (reason !== undefined) return reason;
    if (now - lastReport < pace.reportEveryMs) continue;
    lastReport = now;
    if (pace.operator !== undefined && pace.viewEveryMs > 0 && now - lastView >= pace.viewEveryMs) {
      lastView = now;
      await refreshView(run, pace.operator);
    }
    io.stdout.write(pace.json ? `${JSON.stringify({ type: 'progress', ...report(run) })}\n` : progressLine(run));
  }
}

async function refreshView(run: Run, operator: GatewayClient): Promise<void> {
  try {
    run.view = await readFleetView(operator);
    run.viewError = null;
  } catch (error) {
    run.viewError = (error as Error).message;
  }
}

// ---- output -------------------------------------------------------------------------

function report(run: Run): Record<string, unknown> {
  const tally = sumTallies(run.tallies);
  return {
    elapsed_s: Math.round((Date.now() - run.startedAt) / 100) / 10, nodes: run.nodes, workers: run.workers,
    simulator: {
      started: tally.started, start_failures: tally.startFailures, registered: tally.registered, all_registered_s: run.allRegisteredS,
      slowest_first_registration_s: tally.lastFirstRegistrationMs / 1000,
      handshakes: tally.handshakes, handshake_failures: tally.handshakeFailures, registration_retries: tally.registrationRetries,
      health_samples: tally.healthSamples, health_reports: tally.healthReports, health_reports_failed: tally.healthReportsFailed,
      installed: tally.installed, install_failed: tally.installFailed, errors: tally.errors, rss_mib: Math.round(tally.rssMiB),
    },
    gateway: run.view, ...(run.viewError === null ? {} : { gateway_error: run.viewError }),
  };
}

function viewText(run: Run): string {
  const view = run.view;
  if (view === null) return `gateway: ${run.viewError ?? 'not read yet'}`;
  const rollouts = view.rollouts.map((rollout) => {
    const done = rollout.counts.installed + rollout.counts.failed + rollout.counts.rolled_back;
    return `${rollout.update_id} ${rollout.rollout} ${done}/${rollout.targets} done (${rollout.counts.installed} installed, ${rollout.counts.failed + rollout.counts.rolled_back} failed)`;
  });
  return `gateway: ${view.nodes_registered} registered, ${view.nodes_online} online${rollouts.length === 0 ? '' : `; ${rollouts.join('; ')}`}`;
}

function progressLine(run: Run): string {
  const tally = sumTallies(run.tallies);
  const elapsed = Math.round((Date.now() - run.startedAt) / 1000);
  return `${elapsed}s  nodes ${tally.started}/${run.nodes} started, ${tally.registered} registered; handshakes ${tally.handshakes} ok ${tally.handshakeFailures} failed; `
    + `retries ${tally.registrationRetries}; health ${tally.healthSamples} (PUT ${tally.healthReports} ok ${tally.healthReportsFailed} failed); installs ${tally.installed} ok ${tally.installFailed} failed | ${viewText(run)}\n`;
}

function summaryText(run: Run, reason: string): string {
  const tally = sumTallies(run.tallies);
  const errors = Object.entries(tally.errors).map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none';
  const gatewayErrors = run.view === null ? '' : Object.entries(run.view.errors).map(([kind, n]) => `${n}x ${kind}`).join('; ') || 'none';
  return `simulate: ${reason} after ${Math.round((Date.now() - run.startedAt) / 1000)} s, ${run.nodes} nodes in ${run.workers} workers\n`
    + `  simulator: ${tally.started} started (${tally.startFailures} failed to start), ${tally.registered} registered`
    + `${run.allRegisteredS === null ? '' : ` (all after ${run.allRegisteredS.toFixed(1)} s)`}\n`
    + `  handshakes: ${tally.handshakes} ok, ${tally.handshakeFailures} failed; registration retries: ${tally.registrationRetries}\n`
    + `  health samples: ${tally.healthSamples} (PUT: ${tally.healthReports} ok, ${tally.healthReportsFailed} failed); installs: ${tally.installed} ok, ${tally.installFailed} failed\n`
    + `  errors: ${errors}\n`
    + `  ${viewText(run)}\n`
    + (run.view === null ? '' : `  node-reported errors: ${gatewayErrors}\n`);
}
