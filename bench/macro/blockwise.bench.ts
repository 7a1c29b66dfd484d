// Block-wise download (RFC 7959 §2.4, Block2, 1024-byte blocks) of 1 MiB and 16 MiB, each
// client from its own kind of server: ours from ours (file-backed and Buffer-backed
// bodies), libcoap's coap-client from coap-server, node-coap's client from its server.
// Time and MB/s per download, the server's CPU per block and its memory after the run; the
// body's SHA-256 checked every time. Loopback, ephemeral ports, every download capped.

import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BlockSink } from '../../src/protocol/block-client.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { BLOBS, blobFile, sha256, writeBlobs, type Blob, type BlobDirectory } from './blob.js';
import { runClient } from './client-process.js';
import { cpuSecondsFine, residentMiB } from './proc-stats.js';
import { BENCH_HOST } from './server-child.js';
import {
  killAllServers, libcoapServer, nodeScript, onPath, scriptPath, startServer, type RunningServer, type ServerSpec,
} from './servers.js';

const BENCH = 'blockwise';
const BLOCK_SIZE = 1024;
/** 2^(6+4) = 1024 bytes (RFC 7959 §2.2). */
const SIZE_EXPONENT = 6;
/** Measured downloads per impl and size, interleaved across the impls; the median is reported. */
const ROUNDS = 3;
/** Any one download, 16 MiB included; past it the download counts as failed (a missing value). */
const DOWNLOAD_TIMEOUT_MS = 120_000;
/** Creating a resource on libcoap's server by PUT. */
const UPLOAD_TIMEOUT_MS = 60_000;
/** libcoap's client is a process: its start (a GET of /time, 15 bytes) is timed this often
 * before each of its downloads, and the median subtracted from the download's time. */
const START_SAMPLES = 5;
const START_TIMEOUT_MS = 10_000;
/** 1 MiB downloads per impl before the measured rounds, not recorded: enough blocks (3,072)
 * for V8 to have optimised both Node.js sides and sized its young generation. */
const WARMUPS = 3;
/** Downloads expected (from the warm-up's 1 MiB time) to take longer than this run last. */
const LONG_DOWNLOAD_SECONDS = 20;

interface Attempt {
  /** Wall time of the transfer, or undefined when it failed (timeout, error, wrong bytes). */
  readonly seconds: number | undefined;
  /** Blocks the server sent: all of them, or those before a timeout when known. */
  readonly blocks: number | undefined;
  readonly failure?: string;
  /** libcoap only: the client's process start, already subtracted from `seconds`. */
  readonly startSeconds?: number;
  /** ours only: this process's (the client's) CPU seconds. */
  readonly clientCpuSeconds?: number;
}

interface Measurement extends Attempt {
  readonly serverCpuSeconds: number;
}

interface Subject {
  readonly impl: string;
  readonly server: RunningServer;
  /** One download of `blob` from the server, its SHA-256 checked. */
  download(blob: Blob): Promise<Attempt>;
  readonly measurements: Map<string, Measurement[]>;
  /** A size whose download failed on time: not tried again (each try costs the full cap). */
  readonly givenUp: Set<string>;
  residentMiB: number;
}

const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const blockCount = (blob: Blob): number => Math.ceil(blob.size / BLOCK_SIZE);
const uri = (server: RunningServer, path: string): string => `coap://${server.target.address}:${server.target.port}/${path}`;

/** A sink into one preallocated Buffer: a memcpy per block, so the client's cost is the
 * protocol's, not the storage's; the digest is taken after the clock stops. */
function bufferSink(size: number): BlockSink & { readonly bytes: Buffer; readonly written: () => number } {
  const bytes = Buffer.alloc(size);
  let written = 0;
  return {
    bytes,
    written: () => written,
    write(chunk, offset) {
      if (offset + chunk.length > size) throw new Error(`block at ${offset} (+${chunk.length}) past the ${size}-byte blob`);
      chunk.copy(bytes, offset);
      written = Math.max(written, offset + chunk.length);
    },
    reset() {
      written = 0;
    },
  };
}

/** Our client (a fresh Endpoint per download, in this process) from our server child. */
async function oursDownload(server: RunningServer, blob: Blob, digest: string): Promise<Attempt> {
  const endpoint = await Endpoint.udp({ host: BENCH_HOST, port: 0 });
  const sink = bufferSink(blob.size);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), DOWNLOAD_TIMEOUT_MS);
  try {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let result: Awaited<ReturnType<Endpoint['download']>>;
    try {
      result = await endpoint.download({ uri: uri(server, blob.path), sink, sizeExponent: SIZE_EXPONENT, signal: abort.signal });
    } catch (error) {
      const why = abort.signal.aborted ? `timed out after ${DOWNLOAD_TIMEOUT_MS / 1000} s` : (error as Error).message;
      return { seconds: undefined, blocks: Math.floor(sink.written() / BLOCK_SIZE), failure: why };
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const clientCpuSeconds = (cpu.user + cpu.system) / 1e6;
    if (result.size !== blob.size || sha256(sink.bytes) !== digest) {
      return { seconds: undefined, blocks: blockCount(blob), failure: `got ${result.size} bytes with the wrong SHA-256` };
    }
    return { seconds, blocks: blockCount(blob), clientCpuSeconds };
  } finally {
    clearTimeout(timer);
    await endpoint.close();
  }
}

/** coap-client-notls from libcoap's server: `-b 1024 -o FILE`, process start subtracted. */
async function libcoapDownload(server: RunningServer, blob: Blob, digest: string, directory: string): Promise<Attempt> {
  const output = join(directory, 'libcoap-client-output.bin');
  const starts: number[] = [];
  for (let i = 0; i < START_SAMPLES; i++) {
    rmSync(output, { force: true });
    const run = await runClient('coap-client-notls', ['-b', String(BLOCK_SIZE), '-o', output, uri(server, 'time')], START_TIMEOUT_MS);
    if (run.exitCode !== 0) throw new Error(`coap-client-notls GET /time failed (${run.timedOut ? 'timeout' : run.exitCode}): ${run.stderr}`);
    starts.push(run.seconds);
  }
  const startSeconds = median(starts);
  rmSync(output, { force: true });
  // -B: libcoap's own give-up time, above ours so that ours decides.
  const run = await runClient('coap-client-notls', [
    '-b', String(BLOCK_SIZE), '-B', String(DOWNLOAD_TIMEOUT_MS / 1000 + 10), '-o', output, uri(server, blob.path),
  ], DOWNLOAD_TIMEOUT_MS);
  try {
    if (run.timedOut) return { seconds: undefined, blocks: undefined, failure: `timed out after ${DOWNLOAD_TIMEOUT_MS / 1000} s`, startSeconds };
    if (run.exitCode !== 0) return { seconds: undefined, blocks: undefined, failure: `exit ${run.exitCode}: ${run.stderr.trim()}`, startSeconds };
    const bytes = readFileSync(output);
    if (bytes.length !== blob.size || sha256(bytes) !== digest) {
      return { seconds: undefined, blocks: blockCount(blob), failure: `got ${bytes.length} bytes with the wrong SHA-256`, startSeconds };
    }
    return { seconds: run.seconds - startSeconds, blocks: blockCount(blob), startSeconds };
  } finally {
    rmSync(output, { force: true });
  }
}

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

/** Creates each blob on libcoap's server (`-d`: PUT makes a resource) with its own client. */
async function putBlobs(server: RunningServer, blobs: BlobDirectory): Promise<void> {
  for (const blob of BLOBS) {
    const run = await runClient('coap-client-notls', [
      '-m', 'put', '-b', String(BLOCK_SIZE), '-f', blobFile(blobs.directory, blob), uri(server, blob.path),
    ], UPLOAD_TIMEOUT_MS);
    if (run.exitCode !== 0) throw new Error(`coap-client-notls PUT /${blob.path} failed (${run.timedOut ? 'timeout' : run.exitCode}): ${run.stderr}`);
  }
}

async function measure(subject: Subject, blob: Blob, record: boolean): Promise<Measurement> {
  const cpuBefore = cpuSecondsFine(subject.server.pid);
  const attempt = await subject.download(blob);
  const measurement = { ...attempt, serverCpuSeconds: cpuSecondsFine(subject.server.pid) - cpuBefore };
  if (record) {
    const list = subject.measurements.get(blob.name) ?? [];
    list.push(measurement);
    subject.measurements.set(blob.name, list);
  }
  if (attempt.failure !== undefined) {
    process.stderr.write(`  ${subject.impl} ${blob.name}: FAILED, ${attempt.failure}\n`);
    if (attempt.seconds === undefined && attempt.failure.startsWith('timed out')) subject.givenUp.add(blob.name);
  }
  return measurement;
}

const serverMicrosPerBlock = (m: Measurement): number | undefined =>
  m.blocks === undefined || m.blocks === 0 ? undefined : (m.serverCpuSeconds * 1e6) / m.blocks;

function describeMeasurement(impl: string, blob: Blob, round: string, m: Measurement): string {
  const perBlock = serverMicrosPerBlock(m);
  const parts = [
    m.seconds === undefined ? 'failed' : `${m.seconds.toFixed(3)} s, ${(blob.size / m.seconds / 1e6).toFixed(2)} MB/s`,
    `server ${perBlock === undefined ? '?' : perBlock.toFixed(1)} µs CPU/block${m.seconds === undefined && m.blocks ? ` (over ${m.blocks} blocks)` : ''}`,
  ];
  if (m.clientCpuSeconds !== undefined) parts.push(`client ${((m.clientCpuSeconds * 1e6) / blockCount(blob)).toFixed(1)} µs CPU/block`);
  if (m.startSeconds !== undefined) parts.push(`client start ${(m.startSeconds * 1000).toFixed(1)} ms subtracted`);
  return `  ${impl} ${blob.name} ${round}: ${parts.join(', ')}\n`;
}

function addRows(report: Report, subjects: readonly Subject[]): void {
  const of = (subject: Subject, blob: Blob): Measurement[] => subject.measurements.get(blob.name) ?? [];
  const done = (list: readonly Measurement[]): number[] => list.flatMap((m) => (m.seconds === undefined ? [] : [m.seconds]));
  const [small, large] = BLOBS as [Blob, Blob];
  const seconds = (blob: Blob) => (s: Subject): number => median(done(of(s, blob)));
  const rate = (blob: Blob) => (s: Subject): number => blob.size / seconds(blob)(s) / 1e6;
  const cpu = (blob: Blob) => (s: Subject): number =>
    median(of(s, blob).flatMap((m) => { const v = serverMicrosPerBlock(m); return v === undefined ? [] : [v]; }));
  const metrics: readonly [string, (s: Subject) => number, ((s: Subject) => boolean)?][] = [
    ['seconds_1mib', seconds(small)],
    ['mb_per_s_1mib', rate(small)],
    ['seconds_16mib', seconds(large)],
    ['mb_per_s_16mib', rate(large)],
    ['server_cpu_us_per_block_1mib', cpu(small)],
    ['server_cpu_us_per_block_16mib', cpu(large)],
    ['server_rss_mib_after', (s) => s.residentMiB],
    // libcoap's client is timed as a process; this is what was taken off its times.
    ['client_start_ms', (s) => 1000 * median([...s.measurements.values()].flat().flatMap((m) => (m.startSeconds === undefined ? [] : [m.startSeconds]))),
      (s) => s.impl === 'libcoap'],
    // Timeouts, errors and wrong bytes; each leaves its download out of the medians above.
    ['failed_downloads', (s) => [...s.measurements.values()].flat().filter((m) => m.seconds === undefined).length],
  ];
  for (const [metric, value, applies] of metrics) {
    for (const subject of subjects) if (applies === undefined || applies(subject)) report.add(BENCH, subject.impl, metric, value(subject));
  }
}

interface Planned {
  readonly spec: ServerSpec;
  readonly prepare?: (server: RunningServer) => Promise<void>;
  readonly download: (server: RunningServer, blob: Blob) => Promise<Attempt>;
}

export const blockwiseBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    const blobs = writeBlobs();
    const digest = (blob: Blob): string => blobs.digests.get(blob.name)!;
    const blobPath = BLOBS[0]!.path;
    const plans: Planned[] = [
      {
        spec: nodeScript(OURS, 'server-coap-fleet-blob.js', 'Endpoint.udp, GET /blob-*: immutableFileBody (64 KiB read-ahead windows), ETag',
          undefined, { args: ['file', blobs.directory], path: [blobPath] }),
        download: (server, blob) => oursDownload(server, blob, digest(blob)),
      },
      {
        spec: nodeScript(`${OURS}-buffer`, 'server-coap-fleet-blob.js', 'Endpoint.udp, GET /blob-*: bufferBody (the blob in memory), ETag',
          undefined, { args: ['buffer', blobs.directory], path: [blobPath] }),
        download: (server, blob) => oursDownload(server, blob, digest(blob)),
      },
      {
        spec: libcoapServer('coap-server-notls -d 10, the blobs PUT by coap-client-notls -m put -b 1024 -f FILE', ['-d', '10']),
        prepare: (server) => putBlobs(server, blobs),
        download: (server, blob) => libcoapDownload(server, blob, digest(blob), blobs.directory),
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
      for (const plan of plans) {
        const missing = plan.spec.unavailable();
        if (missing !== undefined || (plan.spec.impl === 'libcoap' && !onPath('coap-client-notls'))) {
          process.stderr.write(`  ${plan.spec.impl} skipped: ${missing ?? 'coap-client-notls not found'}\n`);
          continue;
        }
        const server = await startServer(plan.spec);
        await plan.prepare?.(server);
        process.stderr.write(`  ${plan.spec.impl} (pid ${server.pid}, port ${server.target.port}): ${plan.spec.describe}\n`);
        subjects.push({
          impl: plan.spec.impl, server, download: (blob) => plan.download(server, blob),
          measurements: new Map(), givenUp: new Set(), residentMiB: Number.NaN,
        });
      }
      // Warm-up (JIT, young-generation size, socket buffers, page cache), not recorded.
      const warmSeconds = new Map<Subject, number>();
      for (const subject of subjects) {
        const times: number[] = [];
        for (let i = 0; i < WARMUPS; i++) {
          const m = await measure(subject, BLOBS[0]!, false);
          process.stderr.write(describeMeasurement(subject.impl, BLOBS[0]!, `warm-up ${i + 1}`, m));
          if (m.seconds === undefined) throw new Error(`${subject.impl} failed its warm-up download: ${m.failure}`);
          times.push(m.seconds);
        }
        warmSeconds.set(subject, median(times));
      }
      // A download expected to be long (node-coap's 16 MiB) would leave the other servers
      // idle for minutes between their rounds, and they come back slower (cold caches, the
      // hypervisor's idle vCPU): those downloads run after all the others.
      const expectedSeconds = (subject: Subject, blob: Blob): number => (warmSeconds.get(subject)! * blob.size) / BLOBS[0]!.size;
      const late = (subject: Subject, blob: Blob): boolean => expectedSeconds(subject, blob) > LONG_DOWNLOAD_SECONDS;
      for (const lateOnes of [false, true]) {
        for (let round = 0; round < ROUNDS; round++) {
          for (const blob of BLOBS) {
            // Who goes first rotates, so that no impl always follows the same one.
            for (let i = 0; i < subjects.length; i++) {
              const subject = subjects[(round + i) % subjects.length]!;
              if (late(subject, blob) !== lateOnes || subject.givenUp.has(blob.name)) continue;
              const m = await measure(subject, blob, true);
              process.stderr.write(describeMeasurement(subject.impl, blob, `round ${round + 1}${lateOnes ? ' (run last: long)' : ''}`, m));
            }
          }
        }
      }
      for (const subject of subjects) {
        subject.residentMiB = residentMiB(subject.server.pid);
        for (const blob of subject.givenUp) {
          process.stderr.write(`  ${subject.impl} ${blob}: timed out at ${DOWNLOAD_TIMEOUT_MS / 1000} s, not repeated; its time is missing (NaN)\n`);
        }
      }
      process.stderr.write(`  load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (${BENCH} end)\n`);
    } finally {
      await Promise.all(subjects.map((subject) => subject.server.stop()));
      killAllServers();
      blobs.remove();
    }
    addRows(report, subjects);
  },
};
