// The gateway at fleet scale (issue 14), measured with `coap-fleet simulate` (virtual nodes
// on the agent's own code, each its own DTLS PSK session) against a real `coap-fleet
// server`, each part on a fresh gateway:
// - steady state at each size of --nodes-list (default 1000,5000,10000), health every
//   30 s: the gateway's RSS, CPU share over --window-s (utime + stime from /proc), LMDB on
//   disk, memory per node above its idle RSS; at the first size also health every 3 s (not with --report-cost=off),
//   whose extra CPU per extra report is the cost of one report;
// - a registration storm: --storm-nodes (default 10000) started at once; time until all
//   registered, failed handshakes, nodes not registered at --storm-timeout-s (none give up);
// - a rollout of a --rollout-mib (1) MiB image to --rollout-nodes (1000), canary 1 % then
//   all: time from publishing to the last outcome (NaN past --rollout-timeout-s), gateway
//   CPU, blocks per second of the images served whole.
// Each row beside its target (impl "target"). --parts=steady,storm,rollout picks parts.

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../src/fleet/manifest.js';
import { openGateway } from '../../src/operator/gateway-client.js';
import { readFleetView } from '../../src/operator/fleet-view.js';
import { writeRandomImage } from '../../src/operator/image-file.js';
import { generateKeys } from '../../src/operator/keys.js';
import { publishImage } from '../../src/operator/publish.js';
import { readRollout } from '../../src/operator/rollouts.js';
import type { UpdateDetail } from '../../src/fleet/views.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { diskBytes, startGateway, startSimulation, type BenchGateway } from './fleet-sim.js';
import { cpuSeconds, residentMiB } from './proc-stats.js';

const BENCH = 'fleet';
const TARGET = 'target';
/** Blocks the image is served in (the agent's Block2/Q-Block2 size, SZX 6). */
const BLOCK_BYTES = 1024;
/** Publishing the rollout's image, at most this many times. */
const PUBLISH_ATTEMPTS = 3;
/** Bound on the registration of a whole fleet. */
const REGISTER_TIMEOUT_MS = 20 * 60_000;

interface Options {
  readonly nodesList: readonly number[];
  readonly windowS: number;
  readonly settleS: number;
  readonly stormNodes: number;
  readonly stormTimeoutS: number;
  readonly rolloutNodes: number;
  readonly rolloutMiB: number;
  readonly rolloutTimeoutS: number;
  readonly parts: ReadonlySet<string>;
  /** Whether the first size also runs with health every 3 s (--report-cost=off: not). */
  readonly reportCost: boolean;
}

function readOptions(options: ReadonlyMap<string, string>): Options {
  const number = (name: string, fallback: number): number => {
    const value = Number(options.get(name) ?? fallback);
    if (!(value > 0)) throw new Error(`--${name}=${options.get(name)}: a positive number`);
    return value;
  };
  return {
    nodesList: (options.get('nodes-list') ?? '1000,5000,10000').split(',').map((text) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--nodes-list: ${text} is not a node count`);
      return n;
    }),
    windowS: number('window-s', 60), settleS: number('settle-s', 30),
    stormNodes: number('storm-nodes', 10_000), stormTimeoutS: number('storm-timeout-s', REGISTER_TIMEOUT_MS / 1000), rolloutNodes: number('rollout-nodes', 1000), rolloutMiB: number('rollout-mib', 1),
    rolloutTimeoutS: number('rollout-timeout-s', 1800),
    parts: new Set((options.get('parts') ?? 'steady,storm,rollout').split(',')),
    reportCost: options.get('report-cost') !== 'off',
  };
}

/** 1000 → "1k", 10000 → "10k", 1500 → "1500". */
const sizeName = (n: number): string => (n % 1000 === 0 ? `${n / 1000}k` : String(n));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The gateway's CPU share (cores) over `seconds` from now. */
async function cpuShare(gateway: BenchGateway, seconds: number): Promise<number> {
  const cpu = cpuSeconds(gateway.pid);
  const started = Date.now();
  await sleep(seconds * 1000);
  return (cpuSeconds(gateway.pid) - cpu) / ((Date.now() - started) / 1000);
}

/** Starts `nodes` virtual nodes spread over a ramp and waits until all have registered. */
async function fleetOnline(dir: string, keysDir: string, gateway: BenchGateway, name: string, nodes: number, healthS: number) {
  const simulation = startSimulation(dir, keysDir, gateway.uri, name, [
    '--nodes', String(nodes), '--health-interval', String(healthS), '--ramp-s', String(Math.max(5, Math.ceil(nodes / 100))),
  ]);
  await simulation.waitFor(`${nodes} nodes registered`, (line) => line.simulator.registered === nodes, REGISTER_TIMEOUT_MS);
  return simulation;
}

async function steady(report: Report, options: Options, dir: string, keysDir: string, nodes: number, first: boolean): Promise<void> {
  const size = sizeName(nodes);
  const gateway = await startGateway(dir, keysDir, `gateway-steady-${size}`);
  try {
    await sleep(2000);
    const idleMiB = residentMiB(gateway.pid);
    let simulation = await fleetOnline(dir, keysDir, gateway, `simulate-steady-${size}`, nodes, 30);
    await sleep(options.settleS * 1000);
    const cores = await cpuShare(gateway, options.windowS);
    const rssMiB = residentMiB(gateway.pid);
    report.add(BENCH, OURS, `gateway_rss_mib_${size}`, rssMiB);
    report.add(BENCH, OURS, `gateway_cpu_cores_${size}`, cores);
    report.add(BENCH, OURS, `gateway_lmdb_mib_${size}`, diskBytes(gateway.dataDir) / 1024 ** 2);
    report.add(BENCH, OURS, `gateway_kib_per_node_${size}`, ((rssMiB - idleMiB) * 1024) / nodes);
    report.add(BENCH, OURS, `gateway_rss_idle_mib_${size}`, idleMiB);
    // The gateway's own view, read after the window: an operator's session costs it too.
    const operator = await openGateway({ gateway: gateway.uri, credentials: join(keysDir, 'operator-admin.json') });
    const view = await readFleetView(operator).finally(() => operator.close());
    report.add(BENCH, OURS, `nodes_online_${size}`, view.nodes_online);
    const summary = await simulation.stop();
    report.add(BENCH, OURS, `simulator_kib_per_node_${size}`, ((summary?.simulator.rss_mib ?? Number.NaN) * 1024) / nodes);
    if (nodes === 10_000) {
      report.add(BENCH, TARGET, 'gateway_rss_mib_10k', 150 * 1e6 / 1024 ** 2);
      report.add(BENCH, TARGET, 'gateway_cpu_cores_10k', 0.1);
    }
    if (!first || !options.reportCost) return;
    // The cost of one report: health every 3 s instead of 30, the same fleet.
    simulation = await fleetOnline(dir, keysDir, gateway, `simulate-steady-${size}-3s`, nodes, 3);
    await sleep(Math.min(options.settleS, 10) * 1000);
    const busier = await cpuShare(gateway, options.windowS);
    await simulation.stop();
    report.add(BENCH, OURS, `gateway_cpu_cores_${size}_health_3s`, busier);
    report.add(BENCH, OURS, 'gateway_cpu_us_per_report', ((busier - cores) / (nodes / 3 - nodes / 30)) * 1e6);
  } finally {
    await gateway.stop();
  }
}

async function storm(report: Report, options: Options, dir: string, keysDir: string): Promise<void> {
  const nodes = options.stormNodes;
  const size = sizeName(nodes);
  const gateway = await startGateway(dir, keysDir, `gateway-storm-${size}`);
  try {
    const cpu = cpuSeconds(gateway.pid);
    const simulation = startSimulation(dir, keysDir, gateway.uri, `simulate-storm-${size}`, [
      '--nodes', String(nodes), '--health-interval', '30', '--until-registered', '--duration-s', String(options.stormTimeoutS),
    ]);
    const summary = await simulation.waitFor('the storm\'s summary', (line) => line.type === 'summary', options.stormTimeoutS * 1000 + 60_000);
    const seconds = summary.simulator.all_registered_s ?? Number.NaN;
    report.add(BENCH, OURS, `storm_${size}_s`, seconds);
    report.add(BENCH, TARGET, `storm_${size}_s`, 60);
    report.add(BENCH, OURS, `storm_${size}_failed_handshakes`, summary.simulator.handshake_failures);
    report.add(BENCH, OURS, `storm_${size}_registration_retries`, summary.simulator.registration_retries);
    report.add(BENCH, OURS, `storm_${size}_not_registered`, nodes - summary.simulator.registered);
    report.add(BENCH, TARGET, `storm_${size}_not_registered`, 0);
    report.add(BENCH, OURS, `storm_${size}_gateway_cpu_s`, cpuSeconds(gateway.pid) - cpu);
    report.add(BENCH, OURS, `storm_${size}_gateway_rss_mib`, residentMiB(gateway.pid));
    await simulation.stop();
  } finally {
    await gateway.stop();
  }
}

async function rollout(report: Report, options: Options, dir: string, keysDir: string): Promise<void> {
  const nodes = options.rolloutNodes;
  const size = sizeName(nodes);
  const gateway = await startGateway(dir, keysDir, `gateway-rollout-${size}`);
  const operator = await openGateway({ gateway: gateway.uri, credentials: join(keysDir, 'operator-admin.json') });
  try {
    const simulation = await fleetOnline(dir, keysDir, gateway, `simulate-rollout-${size}`, nodes, 30);
    const image = await writeRandomImage(join(dir, 'image.bin'), Math.round(options.rolloutMiB * 1024 ** 2));
    const targets = Array.from({ length: nodes }, (_, i) => `node-${i + 1}`);
    const cpu = cpuSeconds(gateway.pid);
    const started = Date.now();
    const request = {
      image: image.path, version: '2.0.0', updateId: 'fw-bench', targets, privateKey: readFileSync(join(keysDir, 'publisher.key'), 'utf8'),
      policy: { ...DEFAULT_POLICY, canary: Math.max(1, Math.ceil(nodes / 100)), max_parallel_installs: nodes, failure_threshold: nodes },
    };
    // An upload the gateway ended (4.08 under load: a block it took for out of order) is
    // published again, as an operator would: the gateway keeps the update and takes the
    // image from its first byte.
    for (let attempt = 1; ; attempt++) {
      try {
        await publishImage(operator, request);
        break;
      } catch (error) {
        if (attempt === PUBLISH_ATTEMPTS) throw error;
        process.stderr.write(`fleet: publish attempt ${attempt} failed (${(error as Error).message}); again\n`);
      }
    }
    report.add(BENCH, OURS, `rollout_${size}_publish_s`, (Date.now() - started) / 1000);
    // GET /updates/{id} carries the manifest (1,000 targets: block-wise) and counts that
    // change while it is read: a read whose ETag kept changing is simply read again.
    const read = (): Promise<UpdateDetail | undefined> => readRollout(operator, 'fw-bench').catch(() => undefined);
    let detail = await read();
    while ((detail === undefined || detail.rollout === 'active') && Date.now() - started < options.rolloutTimeoutS * 1000) {
      await sleep(1000);
      detail = (await read()) ?? detail;
    }
    if (detail === undefined) throw new Error('the rollout could not be read');
    const seconds = (Date.now() - started) / 1000;
    report.add(BENCH, OURS, `rollout_${size}_s`, detail.rollout === 'completed' ? seconds : Number.NaN);
    report.add(BENCH, OURS, `rollout_${size}_installed`, detail.counts.installed);
    report.add(BENCH, OURS, `rollout_${size}_gateway_cpu_cores`, (cpuSeconds(gateway.pid) - cpu) / seconds);
    // The images served whole so far (all of them once the rollout completed).
    const downloaded = detail.counts.downloaded + detail.counts.installing + detail.counts.installed;
    report.add(BENCH, OURS, `rollout_${size}_downloaded`, downloaded);
    report.add(BENCH, OURS, `rollout_${size}_blocks_per_s`, (downloaded * Math.ceil(image.size / BLOCK_BYTES)) / seconds);
    report.add(BENCH, OURS, `rollout_${size}_gateway_rss_mib`, residentMiB(gateway.pid));
    // Handshakes past each node's first: sessions the nodes gave up for lost and made anew
    // during the rollout (DTLS liveness probes, server-side replacements).
    const summary = await simulation.stop();
    report.add(BENCH, OURS, `rollout_${size}_extra_handshakes`, (summary?.simulator.handshakes ?? Number.NaN) - nodes);
  } finally {
    await operator.close();
    await gateway.stop();
  }
}

export const fleetBenchmark: Benchmark = {
  name: BENCH,
  async run(report, given) {
    const options = readOptions(given);
    const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-bench-fleet-'));
    try {
      const keysDir = join(dir, 'keys');
      const most = Math.max(...options.nodesList, options.stormNodes, options.rolloutNodes);
      await generateKeys(keysDir, Array.from({ length: most }, (_, i) => `node-${i + 1}`), 'admin', true);
      if (options.parts.has('steady')) {
        for (const [index, nodes] of options.nodesList.entries()) await steady(report, options, dir, keysDir, nodes, index === 0);
      }
      if (options.parts.has('storm')) await storm(report, options, dir, keysDir);
      if (options.parts.has('rollout')) await rollout(report, options, dir, keysDir);
    } finally {
      if (process.env.BENCH_KEEP === undefined) await rm(dir, { recursive: true, force: true });
      else process.stderr.write(`kept ${dir}\n`);
    }
  },
};
