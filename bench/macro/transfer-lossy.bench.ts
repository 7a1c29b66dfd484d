// Issue 12's lossy transfer: 1 MiB from our server child through the fault proxy
// (src/testing/fault-proxy.ts, in this process: 20 % of the datagrams lost each way, 20 ms
// of delay each way with 5 ms of jitter), Q-Block2 (RFC 9177) with the adaptive tuner
// (transfer-tuning.ts) and CoCoA's learnt timers against lock-step Block2 (RFC 7959) with RFC 7252's fixed §4.8 timers. Real sockets and
// wall time. Every run is bounded: one that does not finish in time reports how far it got
// (its goodput), not a time.

import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startFaultProxy, type FaultProxy, type FaultProxyStats } from '../../src/testing/fault-proxy.js';
import type { CongestionControl } from '../../src/protocol/parameters.js';
import type { QBlockDownload } from '../../src/protocol/transfer-tuner.js';
import { AdaptiveTransferTuner } from '../../src/protocol/transfer-tuning.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { BLOBS, writeBlobs, type Blob } from './blob.js';
import { BLOCK_SIZE, blockCount, median, oursDownload, type Attempt } from './downloads.js';
import { BENCH_HOST } from './server-child.js';
import { killAllServers, nodeScript, startServer, type RunningServer } from './servers.js';

const BENCH = 'transfer-lossy';
const FAULTS = { loss: 0.2, delayMs: 20, jitterMs: 5 } as const;
/** The proxy's seed of the first run; run N uses SEED + N, the same for both subjects. */
const SEED = 9177;

interface LossySubject {
  readonly impl: string;
  readonly timers: CongestionControl;
  /** Q-Block2 (RFC 9177) settings for one download; lock-step Block2 when absent. */
  readonly qblock?: () => QBlockDownload;
  /** Runs and the bound of each: lock-step through this loss takes tens of minutes for
   * 1 MiB (about 2 s a block at the §4.8 timers, see the retransmission benchmark), so it
   * runs once and reports how far it got. */
  readonly runs: number;
  readonly boundMs: number;
}

const SUBJECTS: readonly LossySubject[] = [
  // A new adaptive tuner per download, from its defaults (the agent's first download).
  { impl: OURS, timers: 'cocoa', qblock: () => ({ tuner: new AdaptiveTransferTuner() }), runs: 3, boundMs: 120_000 },
  // No tuner: a fixed window of MAX_PAYLOADS (RFC 9177 §7.2), to tell the tuner's part from
  // Q-Block2's.
  { impl: `${OURS} Q-Block2, fixed window`, timers: 'cocoa', qblock: () => ({}), runs: 3, boundMs: 120_000 },
  { impl: `${OURS} lock-step, fixed §4.8`, timers: 'fixed', runs: 1, boundMs: 240_000 },
];

interface Run {
  readonly attempt: Attempt;
  /** Bytes in order received per second of the run (to its end or its bound). */
  readonly goodputKiBps: number;
  /** Datagrams the proxy forwarded, both ways, per block received. */
  readonly datagramsPerBlock: number;
}

async function lossyRun(subject: LossySubject, server: RunningServer, blob: Blob, digest: string, seed: number): Promise<Run> {
  const proxy: FaultProxy = await startFaultProxy({
    listen: { host: BENCH_HOST, port: 0 }, target: { host: server.target.address, port: server.target.port }, faults: FAULTS, seed,
  });
  try {
    const { port } = proxy.address();
    const started = performance.now();
    const attempt = await oursDownload({ address: BENCH_HOST, port }, blob, digest, {
      timeoutMs: subject.boundMs, parameters: { congestionControl: subject.timers },
      ...(subject.qblock === undefined ? {} : { qblock: subject.qblock() }),
    });
    // A run that failed (its bound, or a block given up on) counts until it ended.
    const seconds = attempt.seconds ?? (performance.now() - started) / 1000;
    const blocks = attempt.seconds === undefined ? attempt.blocks ?? 0 : blockCount(blob);
    const bytes = attempt.seconds === undefined ? blocks * BLOCK_SIZE : blob.size;
    return { attempt, goodputKiBps: bytes / 1024 / seconds, datagramsPerBlock: forwarded(proxy.stats()) / Math.max(blocks, 1) };
  } finally {
    await proxy.close();
  }
}

const forwarded = (stats: FaultProxyStats): number => stats.toTarget.forwarded + stats.toClient.forwarded;

function describe(subject: LossySubject, index: number, run: Run): string {
  const { attempt } = run;
  const outcome = attempt.seconds === undefined
    ? `not done: ${attempt.failure}, ${attempt.blocks ?? 0} of ${BLOBS[0]!.size / BLOCK_SIZE} blocks`
    : `${attempt.seconds.toFixed(1)} s`;
  return `  ${subject.impl} run ${index + 1}: ${outcome}, ${run.goodputKiBps.toFixed(2)} KiB/s, ${run.datagramsPerBlock.toFixed(2)} datagrams per block\n`;
}

export const transferLossyBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    const blobs = writeBlobs();
    const blob = BLOBS[0]!;
    const digest = blobs.digests.get(blob.name)!;
    const servers: RunningServer[] = [];
    const results = new Map<LossySubject, Run[]>();
    process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} start); ${JSON.stringify(FAULTS)} each way\n`);
    for (const subject of SUBJECTS) process.stderr.write(`  ${subject.impl}: ${subject.runs} run(s) of at most ${subject.boundMs / 1000} s\n`);
    try {
      for (const subject of SUBJECTS) {
        // A server child per subject, with the subject's timers (its responses' retransmissions
        // and, under Q-Block2, its bursts' pacing follow them).
        const server = await startServer(nodeScript(subject.impl, 'server-coap-fleet-blob.js', `immutableFileBody, ${subject.timers} timers`,
          undefined, { args: ['file', blobs.directory, subject.timers], path: [blob.path] }));
        servers.push(server);
        const runs: Run[] = [];
        for (let index = 0; index < subject.runs; index++) {
          const run = await lossyRun(subject, server, blob, digest, SEED + index);
          process.stderr.write(describe(subject, index, run));
          runs.push(run);
        }
        results.set(subject, runs);
      }
      process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} end)\n`);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      killAllServers();
      blobs.remove();
    }
    for (const [subject, runs] of results) {
      const done = runs.flatMap((run) => (run.attempt.seconds === undefined ? [] : [run.attempt.seconds]));
      // Seconds of the runs that finished (NaN when none did); goodput of every run, so that
      // a run cut at its bound still says how fast it went.
      report.add(BENCH, subject.impl, 'seconds_1mib', median(done));
      report.add(BENCH, subject.impl, 'goodput_kib_per_s', median(runs.map((run) => run.goodputKiBps)));
      report.add(BENCH, subject.impl, 'datagrams_per_block', median(runs.map((run) => run.datagramsPerBlock)));
      report.add(BENCH, subject.impl, 'runs_done', done.length);
    }
  },
};
