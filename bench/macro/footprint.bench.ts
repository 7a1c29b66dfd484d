// What the daemons cost a device at rest and during an update (issue 14): a real gateway and
// a real agent (`coap-fleet server` and `coap-fleet agent` from bin/, DTLS PSK on loopback,
// LMDB in a temporary directory) beside a bare `node -e` in the same run, sampled from
// /proc (proc(5): VmRSS, VmHWM, utime + stime) over an idle window, then while the agent
// downloads and installs a 4 MiB update published through the operator's own functions.
// BENCH_FOOTPRINT_IDLE_S shortens the idle window (default 60 s) for a quick run.

import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { DEFAULT_POLICY } from '../../src/fleet/manifest.js';
import type { StatusView } from '../../src/fleet/views.js';
import { openGateway, type GatewayClient } from '../../src/operator/gateway-client.js';
import { writeRandomImage } from '../../src/operator/image-file.js';
import { generateKeys } from '../../src/operator/keys.js';
import { publishImage } from '../../src/operator/publish.js';
import { Method } from '../../src/protocol/codes.js';
import type { NodeView } from '../../src/fleet/views.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { cpuSeconds, peakResidentMiB, residentMiB } from './proc-stats.js';
import { NODE_ID, startGatewayAndAgent, until } from './proxy-fleet.js';
import { spawnTracked, stopChild } from './servers.js';

const IMAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_IDLE_S = 60;
/** After registration, before the idle window: the start's garbage collected, the first
 * health report and metrics sample sent. */
const SETTLE_MS = 5_000;
const IDLE_SAMPLE_MS = 1_000;
/** Fine enough to see a download's peak between two garbage collections. */
const DOWNLOAD_SAMPLE_MS = 100;
const INSTALL_TIMEOUT_MS = 300_000;
const BARE = 'node -e (bare)';

/** The budgets of issue 14, as rows beside ours: the ratio column reads ours / target. */
const TARGETS: Readonly<Record<string, number>> = {
  agent_rss_idle_mib: 56, agent_cpu_idle_pct: 0.5, agent_rss_peak_mib: 72, gateway_rss_idle_mib: 64,
};

interface IdleFigures {
  readonly agentRssMiB: number;
  readonly agentCpuPct: number;
  readonly gatewayRssMiB: number;
  readonly gatewayCpuPct: number;
  readonly bareRssMiB: number;
  readonly bareCpuPct: number;
}

interface DownloadFigures {
  /** VmHWM since the reset before publishing: the true peak, between samples too. */
  readonly agentPeakMiB: number;
  readonly gatewayPeakMiB: number;
  readonly seconds: number;
  readonly agentCpuS: number;
}

export const footprintBenchmark: Benchmark = {
  name: 'footprint',
  async run(report: Report): Promise<void> {
    const idleS = Number(process.env.BENCH_FOOTPRINT_IDLE_S ?? DEFAULT_IDLE_S);
    if (!Number.isFinite(idleS) || idleS <= 0) throw new Error(`BENCH_FOOTPRINT_IDLE_S must be a positive number of seconds, not ${process.env.BENCH_FOOTPRINT_IDLE_S}`);
    const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-bench-footprint-'));
    const children: ChildProcess[] = [];
    let operator: GatewayClient | undefined;
    try {
      const keys = join(dir, 'keys');
      await generateKeys(keys, [NODE_ID], 'admin', true);
      const bare = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1e3)'], { stdio: 'ignore' });
      children.push(bare);
      // The agent at its default intervals (health, metrics, registration), as a device runs it.
      const { gateway, agent, uri } = await startGatewayAndAgent(dir, keys, children);
      const client = await openGateway({ gateway: uri, credentials: join(keys, 'operator-admin.json') });
      operator = client;
      await until(`${NODE_ID} online`, agent, async () => {
        const { nodes } = await client.json<{ nodes: NodeView[] }>(Method.GET, '/nodes');
        return nodes.some((node) => node.node_id === NODE_ID && node.online) ? true : undefined;
      });
      await delay(SETTLE_MS);
      process.stderr.write(`  idle window ${idleS} s…\n`);
      const idle = await sampleIdle({ agent: agent.pid!, gateway: gateway.pid!, bare: bare.pid! }, idleS * 1000);
      const download = await measureDownload(client, dir, keys, agent, gateway.pid!);
      const rows: [string, string, number][] = [
        ['agent_rss_idle_mib', OURS, idle.agentRssMiB],
        ['agent_cpu_idle_pct', OURS, idle.agentCpuPct],
        ['agent_rss_peak_mib', OURS, download.agentPeakMiB],
        ['gateway_rss_idle_mib', OURS, idle.gatewayRssMiB],
        ['gateway_cpu_idle_pct', OURS, idle.gatewayCpuPct],
        ['gateway_rss_peak_mib', OURS, download.gatewayPeakMiB],
        ['node_bare_rss_mib', BARE, idle.bareRssMiB],
        ['node_bare_cpu_idle_pct', BARE, idle.bareCpuPct],
        ['agent_download_install_s', OURS, download.seconds],
        ['agent_cpu_download_install_s', OURS, download.agentCpuS],
      ];
      for (const [metric, impl, value] of rows) {
        report.add('footprint', impl, metric, round(value));
        const target = TARGETS[metric];
        if (target !== undefined) report.add('footprint', 'target', metric, target);
      }
    } catch (error) {
      const tails = ['gateway', NODE_ID].map((name) => `${name}.log:\n${logTail(join(dir, `${name}.log`))}`).join('\n');
      throw new Error(`${(error as Error).message}\n${tails}`, { cause: error });
    } finally {
      await operator?.close().catch(() => {});
      for (const child of children.reverse()) await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** Resident sets sampled every IDLE_SAMPLE_MS (their medians: one sample caught in a
 * garbage collection does not decide) and CPU over the whole window, in % of one core. */
async function sampleIdle(pids: { readonly agent: number; readonly gateway: number; readonly bare: number }, windowMs: number): Promise<IdleFigures> {
  const samples = { agent: [] as number[], gateway: [] as number[], bare: [] as number[] };
  const cpuBefore = { agent: cpuSeconds(pids.agent), gateway: cpuSeconds(pids.gateway), bare: cpuSeconds(pids.bare) };
  const started = Date.now();
  while (Date.now() - started < windowMs) {
    await delay(IDLE_SAMPLE_MS);
    for (const name of ['agent', 'gateway', 'bare'] as const) samples[name].push(residentMiB(pids[name]));
  }
  const seconds = (Date.now() - started) / 1000;
  const cpuPct = (name: keyof typeof pids): number => (100 * (cpuSeconds(pids[name]) - cpuBefore[name])) / seconds;
  return {
    agentRssMiB: median(samples.agent), agentCpuPct: cpuPct('agent'),
    gatewayRssMiB: median(samples.gateway), gatewayCpuPct: cpuPct('gateway'),
    bareRssMiB: median(samples.bare), bareCpuPct: cpuPct('bare'),
  };
}

/** Publishes a 4 MiB image to the node and waits until it is installed; the peaks are the
 * high-water marks since a reset just before (clear_refs 5, proc(5)). */
async function measureDownload(client: GatewayClient, dir: string, keys: string, agent: ChildProcess, gatewayPid: number): Promise<DownloadFigures> {
  const image = await writeRandomImage(join(dir, 'image.bin'), IMAGE_BYTES);
  resetPeak(agent.pid!);
  resetPeak(gatewayPid);
  const cpuBefore = cpuSeconds(agent.pid!);
  const started = Date.now();
  const updateId = 'fw-2.0.0';
  await publishImage(client, {
    image: image.path, version: '2.0.0', updateId, targets: [NODE_ID], policy: DEFAULT_POLICY,
    privateKey: readFileSync(join(keys, 'publisher.key'), 'utf8'),
  });
  let sampledPeak = 0;
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    if (agent.exitCode !== null || agent.signalCode !== null) throw new Error('the agent exited during the update');
    sampledPeak = Math.max(sampledPeak, residentMiB(agent.pid!));
    const status = await client.json<StatusView>(Method.GET, `/updates/${updateId}/status`);
    const state = status.nodes[NODE_ID]?.state;
    if (state === 'installed') break;
    if (state === 'failed' || state === 'rolled_back') throw new Error(`the update ended ${state}: ${status.nodes[NODE_ID]?.error}`);
    if (Date.now() > deadline) throw new Error(`not installed within ${INSTALL_TIMEOUT_MS} ms (last state ${state})`);
    await delay(DOWNLOAD_SAMPLE_MS);
  }
  return {
    agentPeakMiB: Math.max(sampledPeak, peakResidentMiB(agent.pid!)), gatewayPeakMiB: peakResidentMiB(gatewayPid),
    seconds: (Date.now() - started) / 1000, agentCpuS: cpuSeconds(agent.pid!) - cpuBefore,
  };
}

/** Resets the process's VmHWM to its current VmRSS (Linux ≥ 4.0; our own children). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(none)';
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const round = (value: number): number => Math.round(value * 100) / 100;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
