// Block-wise download (RFC 7959 §2.4, Block2, 1024-byte blocks) of 1 MiB and 16 MiB, each
// client from its own kind of server: ours from ours (file-backed and Buffer-backed
// bodies), libcoap's coap-client from coap-server, node-coap's client from its server.
// Time and MB/s per download, the server's CPU per block and its memory after the run; the
// body's SHA-256 checked every time. Loopback, ephemeral ports, every download capped.

import { loadavg } from 'node:os';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { BLOBS, writeBlobs, type Blob } from './blob.js';
import { runClient } from './client-process.js';
import { addDownloadRows, runRounds, startSubjects, type Subject, type SubjectPlan } from './download-rounds.js';
import { blockCount, libcoapDownload, oursDownload, putBlobs, type Attempt } from './downloads.js';
import { killAllServers, libcoapServer, nodeScript, scriptPath, type RunningServer } from './servers.js';

const BENCH = 'blockwise';
/** Measured downloads per impl and size, interleaved across the impls; the median is reported. */
const ROUNDS = 3;
/** Any one download, 16 MiB included; past it the download counts as failed (a missing value). */
const DOWNLOAD_TIMEOUT_MS = 120_000;
/** 1 MiB downloads per impl before the measured rounds, not recorded: enough blocks (3,072)
 * for V8 to have optimised both Node.js sides and sized its young generation. */
const WARMUPS = 3;
/** Downloads expected (from the warm-up's 1 MiB time) to take longer than this run last. */
const LONG_DOWNLOAD_SECONDS = 20;

interface NodeCoapResult {
  readonly seconds: number;
  readonly code: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** node-coap's client in a child process (so that it can be killed at the cap), which
 * times the transfer itself: process start is not in its figure. */
async function nodeCoapDownload(server: RunningServer, blob: Blob, digest: string): Promise<Attempt> {
  let datagrams = 0;
  let result: NodeCoapResult | undefined;
  const run = await runClient(process.execPath, [
    scriptPath('client-node-coap.js'), server.target.address, String(server.target.port), blob.path,
  ], DOWNLOAD_TIMEOUT_MS, (line) => {
    const parsed = JSON.parse(line) as { datagrams?: number } & Partial<NodeCoapResult>;
    if (typeof parsed.datagrams === 'number') datagrams = parsed.datagrams;
    if (typeof parsed.seconds === 'number') result = parsed as NodeCoapResult;
  });
  if (run.timedOut) {
    return { seconds: undefined, blocks: datagrams, failure: `timed out after ${DOWNLOAD_TIMEOUT_MS / 1000} s, ${datagrams} of ${blockCount(blob)} blocks received` };
  }
  if (run.exitCode !== 0 || result === undefined) return { seconds: undefined, blocks: datagrams, failure: `exit ${run.exitCode}: ${run.stderr.trim()}` };
  if (result.code !== '2.05' || result.bytes !== blob.size || result.sha256 !== digest) {
    return { seconds: undefined, blocks: datagrams, failure: `got ${result.code}, ${result.bytes} bytes, SHA-256 ${result.sha256 === digest ? 'right' : 'wrong'}` };
  }
  return { seconds: result.seconds, blocks: blockCount(blob) };
}

export const blockwiseBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    const blobs = writeBlobs();
    const digest = (blob: Blob): string => blobs.digests.get(blob.name)!;
    const blobPath = BLOBS[0]!.path;
    const plans: SubjectPlan[] = [
      {
        spec: nodeScript(OURS, 'server-coap-fleet-blob.js', 'Endpoint.udp, GET /blob-*: immutableFileBody (64 KiB read-ahead windows), ETag',
          undefined, { args: ['file', blobs.directory], path: [blobPath] }),
        download: (server, blob) => oursDownload(server.target, blob, digest(blob), { timeoutMs: DOWNLOAD_TIMEOUT_MS }),
      },
      {
        spec: nodeScript(`${OURS}-buffer`, 'server-coap-fleet-blob.js', 'Endpoint.udp, GET /blob-*: bufferBody (the blob in memory), ETag',
          undefined, { args: ['buffer', blobs.directory], path: [blobPath] }),
        download: (server, blob) => oursDownload(server.target, blob, digest(blob), { timeoutMs: DOWNLOAD_TIMEOUT_MS }),
      },
      {
        spec: libcoapServer('coap-server-notls -d 10, the blobs PUT by coap-client-notls -m put -b 1024 -f FILE', ['-d', '10']),
        prepare: (server) => putBlobs(server.target, blobs),
        download: (server, blob) => libcoapDownload(server.target, blob, digest(blob), blobs.directory, DOWNLOAD_TIMEOUT_MS),
      },
      {
        spec: nodeScript('node-coap', 'server-node-coap-blob.js', 'coap@1.5.0 createServer(), response.end(whole blob)',
          undefined, { args: [blobs.directory], path: [blobPath] }),
        download: (server, blob) => nodeCoapDownload(server, blob, digest(blob)),
      },
    ];
    const subjects: Subject[] = [];
    process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} start)\n`);
    try {
      await startSubjects(plans, subjects);
      await runRounds(subjects, { warmups: WARMUPS, rounds: ROUNDS, longSeconds: LONG_DOWNLOAD_SECONDS });
      process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} end)\n`);
    } finally {
      await Promise.all(subjects.map((s) => s.server.stop()));
      killAllServers();
      blobs.remove();
    }
    addDownloadRows(report, BENCH, subjects);
  },
};
