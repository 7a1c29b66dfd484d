// How the download benchmarks (blockwise, transfer) measure: each subject is a client and
// the server child it downloads from; warm-up downloads, then rounds of every blob by every
// subject, the first subject rotating, the server's CPU read around each download; rows of
// medians for the report. A download that hits its cap is not tried again.

import { cpuSecondsFine, residentMiB } from './proc-stats.js';
import type { Report } from '../report.js';
import { BLOBS, type Blob } from './blob.js';
import { blockCount, median, type Attempt } from './downloads.js';
import { onPath, startServer, type RunningServer, type ServerSpec } from './servers.js';

export interface Measurement extends Attempt {
  readonly serverCpuSeconds: number;
}

export interface Subject {
  readonly impl: string;
  readonly server: RunningServer;
  /** One download of `blob` from the server, its SHA-256 checked. */
  download(blob: Blob): Promise<Attempt>;
  readonly measurements: Map<string, Measurement[]>;
  /** A size whose download failed on time: not tried again (each try costs the full cap). */
  readonly givenUp: Set<string>;
  residentMiB: number;
}

export interface RoundsOptions {
  /** 1 MiB downloads per subject before the measured rounds, not recorded. */
  readonly warmups: number;
  /** Measured downloads per subject and blob; the median is reported. */
  readonly rounds: number;
  /** Downloads expected (from the warm-up's 1 MiB time) to take longer than this run last. */
  readonly longSeconds: number;
}

/** A subject to be: its server, what to do to that server first, and its client. */
export interface SubjectPlan {
  readonly spec: ServerSpec;
  /** The impl name in the report, when not the server's (our client against libcoap's). */
  readonly impl?: string;
  readonly prepare?: (server: RunningServer) => Promise<void>;
  readonly download: (server: RunningServer, blob: Blob) => Promise<Attempt>;
}

/** Starts each plan's server (skipping, with a line on stderr, one whose programs are
 * missing) and pushes its subject onto `subjects` as soon as it runs, so that a caller's
 * `finally` stops every server started even when a later one fails. */
export async function startSubjects(plans: readonly SubjectPlan[], subjects: Subject[]): Promise<void> {
  for (const plan of plans) {
    const impl = plan.impl ?? plan.spec.impl;
    const missing = plan.spec.unavailable();
    if (missing !== undefined || (plan.spec.impl === 'libcoap' && !onPath('coap-client-notls'))) {
      process.stderr.write(`  ${impl} skipped: ${missing ?? 'coap-client-notls not found'}\n`);
      continue;
    }
    const server = await startServer(plan.spec);
    subjects.push({ impl, server, download: (blob) => plan.download(server, blob), measurements: new Map(), givenUp: new Set(), residentMiB: Number.NaN });
    await plan.prepare?.(server);
    process.stderr.write(`  ${impl} (pid ${server.pid}, port ${server.target.port}): ${plan.spec.describe}\n`);
  }
}

/** One download, recorded with `record`; a timeout gives up on that blob for the subject. */
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

const clientMicrosPerBlock = (m: Measurement, blob: Blob): number | undefined =>
  m.clientCpuSeconds === undefined || m.seconds === undefined ? undefined : (m.clientCpuSeconds * 1e6) / blockCount(blob);

function describeMeasurement(impl: string, blob: Blob, round: string, m: Measurement): string {
  const perBlock = serverMicrosPerBlock(m);
  const parts = [
    m.seconds === undefined ? 'failed' : `${m.seconds.toFixed(3)} s, ${(blob.size / m.seconds / 1e6).toFixed(2)} MB/s`,
    `server ${perBlock === undefined ? '?' : perBlock.toFixed(1)} µs CPU/block${m.seconds === undefined && m.blocks ? ` (over ${m.blocks} blocks)` : ''}`,
  ];
  const client = clientMicrosPerBlock(m, blob);
  if (client !== undefined) parts.push(`client ${client.toFixed(1)} µs CPU/block`);
  if (m.startSeconds !== undefined) parts.push(`client start ${(m.startSeconds * 1000).toFixed(1)} ms subtracted`);
  return `  ${impl} ${blob.name} ${round}: ${parts.join(', ')}\n`;
}

/** Warm-up, then the measured rounds; each subject's server RSS is read at the end. */
export async function runRounds(subjects: readonly Subject[], options: RoundsOptions): Promise<void> {
  // Warm-up (JIT, young-generation size, socket buffers, page cache), not recorded.
  const warmSeconds = new Map<Subject, number>();
  for (const subject of subjects) {
    const times: number[] = [];
    for (let i = 0; i < options.warmups; i++) {
      // A subject whose warm-up fails (a client that cannot fall back to the server's
      // protocol, say) is out of the rounds: its failure is counted, its figures are NaN,
      // and the others are measured all the same.
      const m = await measure(subject, BLOBS[0]!, false);
      process.stderr.write(describeMeasurement(subject.impl, BLOBS[0]!, `warm-up ${i + 1}`, m));
      if (m.seconds === undefined) {
        subject.measurements.set(BLOBS[0]!.name, [m]);
        for (const blob of BLOBS) subject.givenUp.add(blob.name);
        break;
      }
      times.push(m.seconds);
    }
    warmSeconds.set(subject, median(times));
  }
  // A download expected to be long (node-coap's 16 MiB) would leave the other servers
  // idle for minutes between their rounds, and they come back slower (cold caches, the
  // hypervisor's idle vCPU): those downloads run after all the others.
  const expectedSeconds = (subject: Subject, blob: Blob): number => (warmSeconds.get(subject)! * blob.size) / BLOBS[0]!.size;
  const late = (subject: Subject, blob: Blob): boolean => expectedSeconds(subject, blob) > options.longSeconds;
  for (const lateOnes of [false, true]) {
    for (let round = 0; round < options.rounds; round++) {
      for (const blob of BLOBS) {
        // Who goes first rotates, so that no subject always follows the same one.
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
    for (const blob of subject.givenUp) process.stderr.write(`  ${subject.impl} ${blob}: failed, not repeated; its time is missing (NaN)\n`);
  }
}

/** The medians as rows: time, MB/s, server CPU per block per blob, client CPU per block
 * where the client's was measured, server RSS after the run, failures. */
export function addDownloadRows(report: Report, bench: string, subjects: readonly Subject[]): void {
  const of = (subject: Subject, blob: Blob): Measurement[] => subject.measurements.get(blob.name) ?? [];
  const done = (list: readonly Measurement[]): number[] => list.flatMap((m) => (m.seconds === undefined ? [] : [m.seconds]));
  const [small, large] = BLOBS as [Blob, Blob];
  const seconds = (blob: Blob) => (s: Subject): number => median(done(of(s, blob)));
  const rate = (blob: Blob) => (s: Subject): number => blob.size / seconds(blob)(s) / 1e6;
  const perBlock = (blob: Blob, read: (m: Measurement) => number | undefined) => (s: Subject): number =>
    median(of(s, blob).flatMap((m) => { const v = read(m); return v === undefined ? [] : [v]; }));
  const serverCpu = (blob: Blob) => perBlock(blob, serverMicrosPerBlock);
  const clientCpu = (blob: Blob) => perBlock(blob, (m) => clientMicrosPerBlock(m, blob));
  const clientMeasured = (s: Subject): boolean => [...s.measurements.values()].flat().some((m) => m.clientCpuSeconds !== undefined);
  const metrics: readonly [string, (s: Subject) => number, ((s: Subject) => boolean)?][] = [
    ['seconds_1mib', seconds(small)],
    ['mb_per_s_1mib', rate(small)],
    ['seconds_16mib', seconds(large)],
    ['mb_per_s_16mib', rate(large)],
    ['server_cpu_us_per_block_1mib', serverCpu(small)],
    ['server_cpu_us_per_block_16mib', serverCpu(large)],
    ['client_cpu_us_per_block_1mib', clientCpu(small), clientMeasured],
    ['client_cpu_us_per_block_16mib', clientCpu(large), clientMeasured],
    ['server_rss_mib_after', (s) => s.residentMiB],
    // libcoap's client is timed as a process; this is what was taken off its times.
    ['client_start_ms', (s) => 1000 * median([...s.measurements.values()].flat().flatMap((m) => (m.startSeconds === undefined ? [] : [m.startSeconds]))),
      (s) => [...s.measurements.values()].flat().some((m) => m.startSeconds !== undefined)],
    // Timeouts, errors and wrong bytes; each leaves its download out of the medians above.
    ['failed_downloads', (s) => [...s.measurements.values()].flat().filter((m) => m.seconds === undefined).length],
  ];
  for (const [metric, value, applies] of metrics) {
    for (const s of subjects) if (applies === undefined || applies(s)) report.add(bench, s.impl, metric, value(s));
  }
}
