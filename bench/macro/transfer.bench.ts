// Issue 12's loopback transfers: 1 MiB and 16 MiB over plain UDP, side by side in one run:
// our client and server with Q-Block2 (RFC 9177, a burst of blocks per request; a fixed
// window of MAX_PAYLOADS, and the adaptive tuner the agent uses), the same
// pair lock-step (RFC 7959 Block2, one block in flight), libcoap's coap-client from its
// coap-server (lock-step: libcoap 4.3.1 has no Q-Block), and our client asking for Q-Block2
// from libcoap's server (it falls back to Block2). Time, MB/s, CPU of both sides per block,
// the servers' memory. The lossy half is transfer-lossy.bench.ts.

import { loadavg } from 'node:os';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { BLOBS, writeBlobs, type Blob } from './blob.js';
import { addDownloadRows, runRounds, startSubjects, type Subject, type SubjectPlan } from './download-rounds.js';
import { libcoapDownload, oursDownload, putBlobs } from './downloads.js';
import { peakResidentMiB } from './proc-stats.js';
import { BENCH_STATS_PATH } from './resource.js';
import type { Target } from './load-generator.js';
import { killAllServers, libcoapServer, nodeScript } from './servers.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { AdaptiveTransferTuner } from '../../src/protocol/transfer-tuning.js';

const BENCH = 'transfer';
/** Measured downloads per subject and size, interleaved; the median is reported. */
const ROUNDS = 3;
/** Any one download; past it the download counts as failed (a missing value). */
const DOWNLOAD_TIMEOUT_MS = 120_000;
/** 1 MiB downloads per subject before the measured rounds, not recorded (JIT, caches). */
const WARMUPS = 3;
/** Every subject here takes seconds at most: nothing needs to run last. */
const LONG_DOWNLOAD_SECONDS = 60;
/** A fixed window of MAX_PAYLOADS (RFC 9177 §7.2) and no tuner: the loopback is clean, so
 * this measures the protocol, not the tuner's learning. */
const QBLOCK = {};

export const transferBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    const blobs = writeBlobs();
    const digest = (blob: Blob): string => blobs.digests.get(blob.name)!;
    const path = [BLOBS[0]!.path];
    const ours = (impl: string, describe: string): SubjectPlan['spec'] =>
      nodeScript(impl, 'server-coap-fleet-blob.js', describe, undefined, { args: ['file', blobs.directory], path });
    const libcoap = libcoapServer('coap-server-notls -d 10, the blobs PUT by coap-client-notls -m put -b 1024 -f FILE', ['-d', '10']);
    const plans: SubjectPlan[] = [
      {
        spec: ours(OURS, 'Endpoint.udp, GET /blob-*: immutableFileBody, ETag; our client with qblock: {} (Q-Block2, fixed window)'),
        download: (server, blob) => oursDownload(server.target, blob, digest(blob), { timeoutMs: DOWNLOAD_TIMEOUT_MS, qblock: QBLOCK }),
      },
      {
        spec: ours(`${OURS} tuned`, 'the same server; our client with a fresh adaptive tuner per download, as the agent asks (transfer-tuning.ts: window up to 64)'),
        download: (server, blob) => oursDownload(server.target, blob, digest(blob), { timeoutMs: DOWNLOAD_TIMEOUT_MS, qblock: { tuner: new AdaptiveTransferTuner() } }),
      },
      {
        spec: ours(`${OURS} lock-step`, 'the same server; our client without qblock (Block2, one block in flight)'),
        download: (server, blob) => oursDownload(server.target, blob, digest(blob), { timeoutMs: DOWNLOAD_TIMEOUT_MS }),
      },
      {
        spec: libcoap,
        prepare: (server) => putBlobs(server.target, blobs),
        // The client's CPU through GNU time: the process's whole life, its start taken off.
        download: (server, blob) => libcoapDownload(server.target, blob, digest(blob), blobs.directory, DOWNLOAD_TIMEOUT_MS, true),
      },
      {
        spec: libcoap,
        impl: `${OURS} client, libcoap server`,
        prepare: (server) => putBlobs(server.target, blobs),
        download: (server, blob) => oursDownload(server.target, blob, digest(blob), { timeoutMs: DOWNLOAD_TIMEOUT_MS, qblock: QBLOCK }),
      },
    ];
    const subjects: Subject[] = [];
    const peaks = new Map<Subject, number>();
    const qblockPeaks = new Map<Subject, { transfers: number; bytesHeld: number }>();
    process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} start)\n`);
    try {
      await startSubjects(plans, subjects);
      await runRounds(subjects, { warmups: WARMUPS, rounds: ROUNDS, longSeconds: LONG_DOWNLOAD_SECONDS });
      // Each server is a process of its own, started for this run: its peak RSS (VmHWM) is
      // the most it held, per-transfer state included, over 16 MiB downloads.
      for (const s of subjects) peaks.set(s, peakResidentMiB(s.server.pid));
      for (const s of subjects.filter((subject) => subject.impl.startsWith(OURS) && !subject.impl.includes('libcoap'))) {
        qblockPeaks.set(s, await serverQBlockPeak(s.server.target));
      }
      process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} end)\n`);
    } finally {
      await Promise.all(subjects.map((s) => s.server.stop()));
      killAllServers();
      blobs.remove();
    }
    addDownloadRows(report, BENCH, subjects);
    for (const [s, peak] of peaks) report.add(BENCH, s.impl, 'server_peak_rss_mib', peak);
    // Our server's Q-Block2 state at its largest (server-coap-fleet-blob.ts samples it). The
    // client's reorder buffer is bounded by construction (q-block2.ts: 64 blocks).
    for (const [s, stats] of qblockPeaks) {
      report.add(BENCH, s.impl, 'server_qblock2_peak_transfers', stats.transfers);
      report.add(BENCH, s.impl, 'server_qblock2_peak_kib_held', stats.bytesHeld / 1024);
    }
  },
};

/** What our benchmark server says of its Q-Block2 state at its largest (GET /bench-stats). */
async function serverQBlockPeak(target: Target): Promise<{ transfers: number; bytesHeld: number }> {
  const client = await Endpoint.udp({ host: target.address, port: 0 });
  try {
    const response = await client.request({ uri: `coap://${target.address}:${target.port}/${BENCH_STATS_PATH}` });
    return JSON.parse(response.payload.toString('utf8')) as { transfers: number; bytesHeld: number };
  } finally {
    await client.close();
  }
}
