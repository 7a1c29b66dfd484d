// Requests per second and latency of a CON GET answered 2.05 with a small payload, at
// K = 1 and K = 64 requests outstanding, for ours, node-coap, libcoap and a raw dgram
// ceiling, each server alone in its child process; with the server's CPU time per request
// and its memory after the run. Loopback only, every phase bounded in time and count.

import type { Benchmark } from '../interfaces.js';
import type { Report } from '../report.js';
import { generateLoad, MAX_REQUESTS_PER_SOCKET, percentile, type LoadResult } from './load-generator.js';
import { cpuSeconds, residentMiB } from './proc-stats.js';
import { killAllServers, SERVERS, startServer, type RunningServer, type ServerSpec } from './servers.js';

const BENCH = 'requests';

interface Phase {
  readonly name: 'warm-up' | 'K=1' | 'K=64';
  readonly outstanding: number;
  readonly durationMs: number;
}

// Each measurement runs on a socket of its own (a new endpoint pair for the server), so
// that no message ID is reused within EXCHANGE_LIFETIME: hence the count bound, under 2^16.
const MAX_REQUESTS = 60_000;
const WARMUP: Phase = { name: 'warm-up', outstanding: 64, durationMs: 1_000 };
const K1: Phase = { name: 'K=1', outstanding: 1, durationMs: 1_000 };
const K64: Phase = { name: 'K=64', outstanding: 64, durationMs: 1_000 };
/** Rounds per phase and server, interleaved across the servers (all running, only one
 * loaded at a time) so that drift in a shared machine lands on every server alike; each
 * metric is the median round. */
const ROUNDS = 5;
/** Long enough for the first retransmission (2-3 s) of a request lost at a round's end. */
const DRAIN_MS = 4_000;

interface Round {
  readonly result: LoadResult;
  /** The server's CPU seconds during the round. */
  readonly serverCpuSeconds: number;
  /** The load generator's (this process's) CPU seconds during the round. */
  readonly generatorCpuSeconds: number;
}

interface Measured {
  readonly spec: ServerSpec;
  readonly server: RunningServer;
  readonly rounds: Map<Phase, Round[]>;
  residentMiB: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function runRound(measured: Measured, phase: Phase): Promise<Round> {
  const { server, spec } = measured;
  const cpuBefore = cpuSeconds(server.pid);
  const generatorBefore = process.cpuUsage();
  const result = await generateLoad({
    target: server.target,
    path: spec.path,
    outstanding: phase.outstanding,
    maxRequests: Math.min(MAX_REQUESTS, MAX_REQUESTS_PER_SOCKET),
    durationMs: phase.durationMs,
    drainMs: DRAIN_MS,
  });
  const generator = process.cpuUsage(generatorBefore);
  const round = { result, serverCpuSeconds: cpuSeconds(server.pid) - cpuBefore, generatorCpuSeconds: (generator.user + generator.system) / 1e6 };
  const rounds = measured.rounds.get(phase) ?? [];
  rounds.push(round);
  measured.rounds.set(phase, rounds);
  return round;
}

const sum = (rounds: readonly Round[], value: (round: Round) => number): number =>
  rounds.reduce((total, round) => total + value(round), 0);

/** CPU microseconds per 2.05 over all rounds of a phase. */
const microsecondsPerRequest = (rounds: readonly Round[], cpu: (round: Round) => number): number =>
  (sum(rounds, cpu) * 1e6) / Math.max(1, sum(rounds, (round) => round.result.succeeded));

/** One stderr line per server and phase: the medians and their spread, and what the
 * table leaves out (losses, the generator's own CPU, the response size). */
function describe(measured: Measured, phase: Phase): string {
  const rounds = measured.rounds.get(phase) ?? [];
  const rates = rounds.map((round) => round.result.requestsPerSecond);
  const sample = rounds[0]?.result.sampleResponse;
  return `  ${measured.spec.impl} ${phase.name}: ${Math.round(median(rates))} req/s (rounds ${Math.round(Math.min(...rates))}-${Math.round(Math.max(...rates))}), `
    + `p50 ${median(rounds.map((r) => percentile(r.result.latenciesMs, 50))).toFixed(3)} ms, `
    + `p99 ${median(rounds.map((r) => percentile(r.result.latenciesMs, 99))).toFixed(3)} ms, `
    + `${sum(rounds, (r) => r.result.succeeded)}/${sum(rounds, (r) => r.result.started)} 2.05, `
    + `${sum(rounds, (r) => r.result.retransmissions)} retransmissions, ${sum(rounds, (r) => r.result.failed)} failed, `
    + `${sum(rounds, (r) => r.result.unmatched)} unmatched; server ${microsecondsPerRequest(rounds, (r) => r.serverCpuSeconds).toFixed(1)} `
    + `µs CPU/request, generator ${microsecondsPerRequest(rounds, (r) => r.generatorCpuSeconds).toFixed(1)}; `
    + `response ${sample === undefined ? 'none' : `${sample.length} bytes`}\n`;
}

function addRows(report: Report, all: readonly Measured[]): void {
  const rounds = (measured: Measured, phase: Phase): Round[] => measured.rounds.get(phase) ?? [];
  const medianOf = (phase: Phase, value: (round: Round) => number) => (measured: Measured): number =>
    median(rounds(measured, phase).map(value));
  const p = (percent: number) => (round: Round): number => percentile(round.result.latenciesMs, percent);
  const rate = (round: Round): number => round.result.requestsPerSecond;
  // Metric by metric, so that the table groups them in this order.
  const metrics: readonly [string, (measured: Measured) => number][] = [
    ['req_per_s_k1', (m) => Math.round(medianOf(K1, rate)(m))],
    ['p50_ms_k1', medianOf(K1, p(50))],
    ['p99_ms_k1', medianOf(K1, p(99))],
    ['req_per_s_k64', (m) => Math.round(medianOf(K64, rate)(m))],
    ['p50_ms_k64', medianOf(K64, p(50))],
    ['p99_ms_k64', medianOf(K64, p(99))],
    ['cpu_us_per_req_k64', (m) => microsecondsPerRequest(rounds(m, K64), (round) => round.serverCpuSeconds)],
    ['rss_mib_after', (m) => m.residentMiB],
    // Zero unless a datagram was lost or a request went unanswered; then the numbers above
    // include the cost of that, and this row says so.
    ['retransmissions', (m) => sum([...rounds(m, K1), ...rounds(m, K64)], (round) => round.result.retransmissions)],
    ['failed_requests', (m) => sum([...rounds(m, K1), ...rounds(m, K64)], (round) => round.result.failed)],
  ];
  for (const [metric, value] of metrics) {
    for (const measured of all) report.add(BENCH, measured.spec.impl, metric, value(measured));
  }
}

export const requestsBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    const all: Measured[] = [];
    try {
      for (const spec of SERVERS) {
        const missing = spec.unavailable();
        if (missing !== undefined) {
          process.stderr.write(`  ${spec.impl} skipped: ${missing}\n`);
          continue;
        }
        const server = await startServer(spec);
        process.stderr.write(`  ${spec.impl} (pid ${server.pid}, port ${server.target.port}): ${spec.describe}\n`);
        all.push({ spec, server, rounds: new Map(), residentMiB: Number.NaN });
      }
      for (const measured of all) {
        const { result } = await runRound(measured, WARMUP);
        if (result.succeeded === 0) throw new Error(`${measured.spec.impl} answered no request with 2.05 during warm-up`);
      }
      for (const phase of [K1, K64]) {
        for (let round = 0; round < ROUNDS; round++) {
          // Who goes first rotates, so that no server always follows the same one.
          for (let i = 0; i < all.length; i++) await runRound(all[(round + i) % all.length]!, phase);
        }
      }
      for (const measured of all) {
        measured.residentMiB = residentMiB(measured.server.pid);
        for (const phase of [WARMUP, K1, K64]) process.stderr.write(describe(measured, phase));
      }
    } finally {
      await Promise.all(all.map((measured) => measured.server.stop()));
      killAllServers();
    }
    addRows(report, all);
  },
};
