// The brief's CoAP-vs-MQTT table, measured (issue 14): the same fleet two ways in one run,
// one after the other, each on its own (the machine is shared: one side at a time keeps
// their CPU figures apart). Ours: `coap-fleet server` and NODES `coap-fleet agent`
// processes over DTLS, with certificates and again with PSKs; theirs: mosquitto over TLS, the comparison's MQTT gateway with its
// HTTPS image server, and NODES MQTT agents (mqtt-side-*.ts). Both on one fleet CA's P-256
// certificates, both with signed manifests. Each side: start and register (setup), a
// steady window of health reports every HEALTH_INTERVAL_S, then one IMAGE_BYTES update to
// every node until all report it installed. Bytes are counted at the socket level by the
// counting proxies between the agents and the server side; CPU and RSS from /proc.

import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomImage, type Image } from '../../src/operator/image-file.js';
import type { Benchmark } from '../interfaces.js';
import type { Report } from '../report.js';
import { ensureMosquitto } from './mqtt-broker.js';
import { addCounts, countsBetween, headerEstimate, type WireCounts } from './mqtt-counting-proxy.js';
import { makeCredentials } from './mqtt-credentials.js';
import { startCoapSide } from './mqtt-side-coap.js';
import { startMqttSide } from './mqtt-side-mqtt.js';
import type { ComparedSide, SideOptions } from './mqtt-side.js';
import { cpuSeconds, peakResidentMiB, residentMiB } from './proc-stats.js';
import { spawnTracked, stopChild } from './servers.js';

const BENCH = 'mqtt-compare';
const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
const HEALTH_INTERVAL_S = 5;
/** The steady window: twelve health periods. */
const STEADY_S = 12 * HEALTH_INTERVAL_S;
/** After registration, before the steady window: the agents' start-up (first samples,
 * observations set up) is not steady traffic. */
const SETTLE_S = HEALTH_INTERVAL_S + 2;
const IMAGE_BYTES = 4 * 1024 * 1024;
const UPDATE_TIMEOUT_MS = 300_000;
const UPDATE_ID = 'fw-2.0.0';

type Start = (options: SideOptions) => Promise<ComparedSide>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Sleeps `ms` in steps, failing as soon as a process of the side has died. */
async function watch(side: ComparedSide, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    side.checkAlive();
    await sleep(Math.min(1000, end - Date.now()));
  }
}

const bytes = (counts: WireCounts): number => counts.bytesUp + counts.bytesDown;
const packets = (counts: WireCounts): number => counts.packetsUp + counts.packetsDown;
const headers = (side: ComparedSide, before: WireCounts[], after: WireCounts[]): number =>
  side.proxies.reduce((sum, proxy, index) => sum + headerEstimate(countsBetween(before[index]!, after[index]!), proxy.protocol), 0);
const perProxy = (side: ComparedSide): WireCounts[] => side.proxies.map((proxy) => proxy.counts());

/** CPU seconds so far of each agent, and of each server process by name. */
function cpuNow(side: ComparedSide): { readonly agents: number[]; readonly servers: Map<string, number> } {
  return { agents: side.agentPids.map(cpuSeconds), servers: new Map([...side.serverPids].map(([name, pid]) => [name, cpuSeconds(pid)])) };
}

async function measure(start: Start, dir: string, options: Omit<SideOptions, 'dir'>, image: Image, report: Report): Promise<void> {
  await mkdir(dir, { recursive: true });
  const side = await start({ ...options, dir });
  const add = (metric: string, value: number): void => report.add(BENCH, side.impl, metric, value);
  const nodes = options.nodeIds.length;
  try {
    // Setup: everything from the first handshake to every node registered.
    const setup = addCounts(...perProxy(side));
    add('setup: bytes per node (handshake, registration)', Math.round(bytes(setup) / nodes));

    await watch(side, SETTLE_S * 1000);
    const steadyFrom = perProxy(side);
    // Registration is not the end of a node's start: our gateway then observes the agent's
    // /health and /metrics (two registrations and a first metrics sample), so the bytes up
    // to the steady window are reported too (a report or two of each node's included).
    add(`setup: bytes per node until ${SETTLE_S} s after registration`, Math.round(bytes(addCounts(...steadyFrom)) / nodes));
    const cpuFrom = cpuNow(side);
    const steadyStarted = process.hrtime.bigint();
    await watch(side, STEADY_S * 1000);
    const steadyTo = perProxy(side);
    const cpuTo = cpuNow(side);
    const steadySeconds = Number(process.hrtime.bigint() - steadyStarted) / 1e9;
    const steady = countsBetween(addCounts(...steadyFrom), addCounts(...steadyTo));
    // Every byte of the window (reports, their acknowledgements, keep-alives, anything
    // else the protocols send while idle) over the reports due in it.
    const reports = nodes * (steadySeconds / options.healthIntervalS);
    add('health: bytes per report, all steady traffic', Math.round(bytes(steady) / reports));
    add('health: packets per report (datagrams | TCP reads)', packets(steady) / reports);
    add('health: IP+UDP/TCP header bytes per report (estimate)', Math.round(headers(side, steadyFrom, steadyTo) / reports));
    add('agent RSS MiB, steady (mean)', mean(side.agentPids.map(residentMiB)));
    add('agent CPU % of a core, steady (mean)', mean(side.agentPids.map((_, i) => ((cpuTo.agents[i]! - cpuFrom.agents[i]!) / steadySeconds) * 100)));
    for (const [name, pid] of side.serverPids) {
      add(`${name} RSS MiB, steady`, residentMiB(pid));
      add(`${name} CPU % of a core, steady`, ((cpuTo.servers.get(name)! - cpuFrom.servers.get(name)!) / steadySeconds) * 100);
    }

    // The update: announced, downloaded by every node, installed.
    const updateFrom = perProxy(side);
    const cpuBefore = cpuNow(side);
    const publishStarted = process.hrtime.bigint();
    await side.publish(image, UPDATE_ID, '2.0.0');
    // On our side publish includes the operator's upload to the gateway, which the MQTT
    // side's gateway never does (its image is a file put in place): left out of the
    // gateway's CPU and of the times (the agents cannot fetch before the upload ends).
    const cpuPublished = cpuNow(side);
    const updateStarted = process.hrtime.bigint();
    add('update: s to publish (ours: manifest + upload)', Number(updateStarted - publishStarted) / 1e9);
    const deadline = Date.now() + UPDATE_TIMEOUT_MS;
    let downloadedSeconds: number | undefined;
    for (;;) {
      const progress = await side.progress(UPDATE_ID);
      if (progress.downloaded === nodes) downloadedSeconds ??= Number(process.hrtime.bigint() - updateStarted) / 1e9;
      if (progress.installed === nodes) break;
      side.checkAlive();
      if (Date.now() > deadline) throw new Error(`${side.impl}: not every node installed ${UPDATE_ID} within ${UPDATE_TIMEOUT_MS} ms`);
      await sleep(250);
    }
    const updateSeconds = Number(process.hrtime.bigint() - updateStarted) / 1e9;
    const updateTo = perProxy(side);
    const cpuAfter = cpuNow(side);
    const update = countsBetween(addCounts(...updateFrom), addCounts(...updateTo));
    add('update: bytes per node', Math.round(bytes(update) / nodes));
    add('update: bytes per node beyond the image', Math.round(bytes(update) / nodes - image.size));
    add('update: packets per node (datagrams | TCP reads)', Math.round(packets(update) / nodes));
    add('update: IP+UDP/TCP header bytes per node (estimate)', Math.round(headers(side, updateFrom, updateTo) / nodes));
    add(`update: s until ${nodes}/${nodes} downloaded`, downloadedSeconds ?? updateSeconds);
    add(`update: s until ${nodes}/${nodes} installed`, updateSeconds);
    add('update: agent CPU s (mean)', mean(side.agentPids.map((_, i) => cpuAfter.agents[i]! - cpuBefore.agents[i]!)));
    add('agent peak RSS MiB (max)', Math.max(...side.agentPids.map(peakResidentMiB)));
    for (const [name, pid] of side.serverPids) {
      add(`update: ${name} CPU s`, cpuAfter.servers.get(name)! - cpuPublished.servers.get(name)!);
      add(`${name} peak RSS MiB`, peakResidentMiB(pid));
    }
  } finally {
    await side.close();
  }
}

/** The RSS of `node -e` with a timer (the event loop alive, nothing loaded), after a second. */
async function bareNodeResidentMiB(): Promise<number> {
  const child = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore' });
  try {
    await sleep(1000);
    return residentMiB(child.pid!);
  } finally {
    await stopChild(child);
  }
}

export const mqttCompareBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-bench-mqtt-'));
    let failed = true;
    try {
      const credentials = await makeCredentials(join(dir, 'keys'), NODES);
      const image = await writeRandomImage(join(dir, 'image.bin'), IMAGE_BYTES);
      const options = { credentials, nodeIds: NODES, healthIntervalS: HEALTH_INTERVAL_S };
      await measure(startCoapSide('certificate'), join(dir, 'coap'), options, image, report);
      await measure(startCoapSide('psk'), join(dir, 'coap-psk'), options, image, report);
      const missing = ensureMosquitto();
      if (missing !== undefined) {
        process.stderr.write(`${BENCH}: the MQTT side is skipped: ${missing}\n`);
        failed = false;
        return;
      }
      await measure(startMqttSide, join(dir, 'mqtt'), options, image, report);
      // Both agents and both gateways are Node.js processes: what Node.js alone takes.
      report.add(BENCH, 'node -e (baseline)', 'agent RSS MiB, steady (mean)', await bareNodeResidentMiB());
      failed = false;
    } finally {
      // The daemons' logs stay for a look when a side failed.
      if (failed) process.stderr.write(`${BENCH}: kept ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    }
  },
};
