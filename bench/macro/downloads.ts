// One timed download of a blob (blob.ts) by each kind of client the transfer benchmarks
// run: our Endpoint in this process (lock-step Block2, RFC 7959 §2.4, or Q-Block2, RFC
// 9177, when `qblock` is given) and libcoap's coap-client-notls as a process of its own;
// the bytes checked by SHA-256 every time, every download capped in time.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BlockSink } from '../../src/protocol/block-client.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import type { TransmissionParameters } from '../../src/protocol/parameters.js';
import type { QBlockDownload } from '../../src/protocol/transfer-tuner.js';
import { blobFile, sha256, BLOBS, type Blob, type BlobDirectory } from './blob.js';
import { runClient, type ClientRun } from './client-process.js';
import type { Target } from './load-generator.js';
import { BENCH_HOST } from './server-child.js';

export const BLOCK_SIZE = 1024;
/** 2^(6+4) = 1024 bytes (RFC 7959 §2.2). */
export const SIZE_EXPONENT = 6;
/** libcoap's client is a process: its start (a GET of /time, 15 bytes) is timed this often
 * before each of its downloads, and the median subtracted from the download's time. */
const START_SAMPLES = 5;
const START_TIMEOUT_MS = 10_000;
/** Creating a resource on libcoap's server by PUT. */
const UPLOAD_TIMEOUT_MS = 60_000;

export interface Attempt {
  /** Wall time of the transfer, or undefined when it failed (timeout, error, wrong bytes). */
  readonly seconds: number | undefined;
  /** Blocks the server sent: all of them, or those before a timeout when known. */
  readonly blocks: number | undefined;
  readonly failure?: string;
  /** libcoap only: the client's process start, already subtracted from `seconds`. */
  readonly startSeconds?: number;
  /** The client's CPU seconds: ours, this process's; libcoap's, from GNU time when asked. */
  readonly clientCpuSeconds?: number;
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export const blockCount = (blob: Blob): number => Math.ceil(blob.size / BLOCK_SIZE);
export const blobUri = (target: Target, path: string): string => `coap://${target.address}:${target.port}/${path}`;

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

export interface OursOptions {
  readonly timeoutMs: number;
  /** Q-Block2 (RFC 9177) settings; lock-step Block2 when absent. */
  readonly qblock?: QBlockDownload;
  /** The client endpoint's transmission parameters (e.g. `congestionControl`). */
  readonly parameters?: Partial<TransmissionParameters>;
}

/** Our client (a fresh Endpoint per download, in this process) from `target`. */
export async function oursDownload(target: Target, blob: Blob, digest: string, options: OursOptions): Promise<Attempt> {
  const endpoint = await Endpoint.udp({ host: BENCH_HOST, port: 0 }, options.parameters === undefined ? {} : { parameters: options.parameters });
  const sink = bufferSink(blob.size);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  try {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let result: Awaited<ReturnType<Endpoint['download']>>;
    try {
      result = await endpoint.download({
        uri: blobUri(target, blob.path), sink, sizeExponent: SIZE_EXPONENT, signal: abort.signal,
        ...(options.qblock === undefined ? {} : { qblock: options.qblock }),
      });
    } catch (error) {
      const why = abort.signal.aborted ? `timed out after ${options.timeoutMs / 1000} s` : (error as Error).message;
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

/** GNU time's `%U %S` (user and system CPU seconds of the command, 10 ms resolution) into
 * a file, so the client's own output stays its own. */
const TIMED = '/usr/bin/time';

/** Runs coap-client-notls, under GNU time when `cpuFile` is given. */
function coapClient(args: readonly string[], timeoutMs: number, cpuFile: string | undefined): Promise<ClientRun> {
  return cpuFile === undefined
    ? runClient('coap-client-notls', args, timeoutMs)
    : runClient(TIMED, ['-f', '%U %S', '-o', cpuFile, 'coap-client-notls', ...args], timeoutMs);
}

function readCpuFile(cpuFile: string): number | undefined {
  const [user, system] = readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return Number.isFinite(user) && Number.isFinite(system) ? user! + system! : undefined;
}

/** coap-client-notls from `target` (libcoap's server, or ours): `-b 1024 -o FILE`, process
 * start subtracted; with `measureCpu`, every run (the start samples too, so that what is
 * subtracted was timed alike) goes through GNU time and the client's CPU is reported. */
export async function libcoapDownload(
  target: Target, blob: Blob, digest: string, directory: string, timeoutMs: number, measureCpu = false,
): Promise<Attempt> {
  const output = join(directory, 'libcoap-client-output.bin');
  const cpuFile = measureCpu ? join(directory, 'libcoap-client-cpu.txt') : undefined;
  const starts: number[] = [];
  const startCpu: number[] = [];
  for (let i = 0; i < START_SAMPLES; i++) {
    rmSync(output, { force: true });
    const run = await coapClient(['-b', String(BLOCK_SIZE), '-o', output, blobUri(target, 'time')], START_TIMEOUT_MS, cpuFile);
    if (run.exitCode !== 0) throw new Error(`coap-client-notls GET /time failed (${run.timedOut ? 'timeout' : run.exitCode}): ${run.stderr}`);
    starts.push(run.seconds);
    const cpu = cpuFile === undefined ? undefined : readCpuFile(cpuFile);
    if (cpu !== undefined) startCpu.push(cpu);
  }
  const startSeconds = median(starts);
  rmSync(output, { force: true });
  // -B: libcoap's own give-up time, above ours so that ours decides.
  const run = await coapClient([
    '-b', String(BLOCK_SIZE), '-B', String(timeoutMs / 1000 + 10), '-o', output, blobUri(target, blob.path),
  ], timeoutMs, cpuFile);
  try {
    if (run.timedOut) return { seconds: undefined, blocks: undefined, failure: `timed out after ${timeoutMs / 1000} s`, startSeconds };
    if (run.exitCode !== 0) return { seconds: undefined, blocks: undefined, failure: `exit ${run.exitCode}: ${run.stderr.trim()}`, startSeconds };
    const bytes = readFileSync(output);
    if (bytes.length !== blob.size || sha256(bytes) !== digest) {
      return { seconds: undefined, blocks: blockCount(blob), failure: `got ${bytes.length} bytes with the wrong SHA-256`, startSeconds };
    }
    // The process start's CPU (the median of the start samples) is taken off as its time is.
    const cpu = cpuFile === undefined ? undefined : readCpuFile(cpuFile);
    const clientCpuSeconds = cpu === undefined ? undefined : Math.max(0, cpu - (startCpu.length === 0 ? 0 : median(startCpu)));
    return {
      seconds: run.seconds - startSeconds, blocks: blockCount(blob), startSeconds,
      ...(clientCpuSeconds === undefined ? {} : { clientCpuSeconds }),
    };
  } finally {
    rmSync(output, { force: true });
    if (cpuFile !== undefined) rmSync(cpuFile, { force: true });
  }
}

/** Creates each blob on libcoap's server (`-d`: PUT makes a resource) with its own client. */
export async function putBlobs(target: Target, blobs: BlobDirectory): Promise<void> {
  for (const blob of BLOBS) {
    const run = await runClient('coap-client-notls', [
      '-m', 'put', '-b', String(BLOCK_SIZE), '-f', blobFile(blobs.directory, blob), blobUri(target, blob.path),
    ], UPLOAD_TIMEOUT_MS);
    if (run.exitCode !== 0) throw new Error(`coap-client-notls PUT /${blob.path} failed (${run.timedOut ? 'timeout' : run.exitCode}): ${run.stderr}`);
  }
}
