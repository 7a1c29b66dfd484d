// DTLS: full handshakes per second and server CPU per handshake (PSK and ECDHE-ECDSA) of
// our server beside `openssl s_server -dtls1_2`, both driven by the same client (ours, in a
// child process, one handshake at a time: s_server takes one client at a time); 1 KiB GETs
// per second over an established session, ours beside libcoap's OpenSSL server and beside
// our own plain UDP; module heap per established session with 1,000 sessions, the server's
// RSS holding 10,000 PSK sessions (clients in four child processes, one socket each), and
// the module's size. At the gateway (the real `coap-fleet server` process, its revocation
// list checked at every certificate handshake): handshakes/s and CPU per handshake, PSK
// beside certificates, and its RSS per session of either kind with 1,000 held. Loopback
// only, ephemeral ports; every child killed at the end.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { findWasm } from '../../src/dtls/wasm-module.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import {
  BENCH_IDENTITY, BENCH_KEY, CHILD_SCRIPT, HOST, KIB_PATH,
  type HandshakesConfig, type HandshakesResult, type HoldConfig, type Mode, type PkiPaths, type RequestsConfig, type RequestsResult, type ServerConfig,
} from './dtls-children.js';

const BENCH = 'dtls';
const OPENSSL = 'openssl s_server';
const LIBCOAP = 'libcoap (OpenSSL)';
const PLAIN = 'coap-fleet, plain UDP';
const ROUNDS = 3;
const HANDSHAKE_MS: Record<Mode, number> = { psk: 1500, certificate: 4000 };
const REQUEST_MS = 1500;
/** Requests before the counted window, from the same client: its JIT and WebAssembly
 * tiering settle, and the window sees a steady rate (a cold client starves the server,
 * every request its own wake-up, which is not the record's cost). */
const WARMUP_MS = 1000;
const SESSIONS_FIRST = 1000;
const SESSIONS_TOTAL = 10_000;
const HOLD_CHILDREN = 4;
const HOLD_BATCH = 50;
/** Any child that has not answered in this long is killed and the benchmark fails. */
const CHILD_TIMEOUT_MS = 120_000;
const SUITE_NAME: Record<Mode, string> = { psk: 'PSK', certificate: 'ECDHE-ECDSA' };

// ---- children -----------------------------------------------------------------------

const children = new Set<ChildProcess>();
export function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.once('exit', killAll);

export interface Child {
  readonly pid: number;
  /** The next line on stdout (waits for it). */
  line(): Promise<string>;
  output(): string;
  write(text: string): void;
  stop(): Promise<void>;
}

function launch(command: string, args: readonly string[]): Child {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  let pending = '';
  const lines: string[] = [];
  const waiters: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  let ended: Error | undefined;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output = (output + chunk).slice(-8192);
    pending += chunk;
    for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
      lines.push(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
    while (lines.length > 0 && waiters.length > 0) waiters.shift()!.resolve(lines.shift()!);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output = (output + chunk).slice(-8192); });
  child.stdin!.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    children.delete(child);
    ended = new Error(`${command} exited: ${output}`);
    for (const waiter of waiters.splice(0)) waiter.reject(ended);
    resolve();
  }));
  child.once('error', (error) => {
    ended = error;
    for (const waiter of waiters.splice(0)) waiter.reject(error);
  });
  return {
    pid: child.pid ?? -1,
    output: () => output,
    write: (text) => { child.stdin!.write(text); },
    line: () => {
      if (lines.length > 0) return Promise.resolve(lines.shift()!);
      if (ended !== undefined) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${command} said nothing for ${CHILD_TIMEOUT_MS} ms: ${output}`)), CHILD_TIMEOUT_MS);
        waiters.push({ resolve: (line) => { clearTimeout(timer); resolve(line); }, reject: (error) => { clearTimeout(timer); reject(error); } });
      });
    },
    stop: async () => {
      child.stdin!.end();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const nodeChild = (role: string, config: unknown): Child => launch(process.execPath, [CHILD_SCRIPT, role, JSON.stringify(config)]);

async function runChild<T>(role: string, config: unknown): Promise<T> {
  const child = nodeChild(role, config);
  try {
    return JSON.parse(await child.line()) as T;
  } finally {
    await child.stop();
  }
}

/** A requests child's counted window and the server's CPU seconds over exactly that
 * window: after the client's start, handshake and warm-up (`measuring`), until its result,
 * so a per-request cost is the steady state over an established session, for every server
 * alike. */
async function measuredRequests(serverPid: number, config: RequestsConfig & { warmupMs: number }): Promise<{ result: RequestsResult; cpu: number }> {
  const child = nodeChild('requests', config);
  try {
    const phase = await child.line();
    if (phase !== 'measuring') throw new Error(`requests child: expected "measuring", got ${phase}`);
    const before = cpuSeconds(serverPid);
    const result = JSON.parse(await child.line()) as RequestsResult;
    return { result, cpu: cpuSeconds(serverPid) - before };
  } finally {
    await child.stop();
  }
}

export async function ourServer(config: ServerConfig): Promise<{ child: Child; port: number }> {
  const child = nodeChild('server', config);
  return { child, port: Number(await child.line()) };
}

export interface ServerStats {
  readonly sessions: number;
  readonly hibernated: number;
  readonly halfOpen: number;
  readonly heapInUse: number;
  readonly rss: number;
  readonly jsHeap: number;
  /** Bytes of ArrayBuffers (Buffers) outside the JS heap: hibernated sessions' blobs. */
  readonly arrayBuffers: number;
}

export async function serverStats(child: Child): Promise<ServerStats> {
  const line = child.line();
  child.write('stats\n');
  return JSON.parse(await line) as ServerStats;
}

// ---- /proc -----------------------------------------------------------------------------

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100;

/** User plus system CPU seconds of a process (proc(5): fields 14 and 15 of /proc/PID/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export function residentMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[sorted.length >> 1]!;
};

// ---- peers ----------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

async function waitForOutput(child: Child, pattern: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pattern.test(child.output())) {
    if (Date.now() > deadline) throw new Error(`${what} did not start: ${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function opensslServer(mode: Mode, pki: PkiPaths): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const common = ['s_server', '-dtls1_2', '-accept', `${HOST}:${port}`];
  const args = mode === 'psk'
    ? [...common, '-psk', Buffer.from(BENCH_KEY).toString('hex'), '-psk_identity', 'node:bench', '-cipher', 'PSK-AES128-CCM8', '-nocert']
    : [...common, '-cipher', 'ECDHE-ECDSA-AES128-CCM8', '-cert', pki.serverCert, '-key', pki.serverKey, '-CAfile', pki.ca, '-Verify', '1', '-verify_return_error'];
  const child = launch('openssl', args);
  await waitForOutput(child, /ACCEPT/, 'openssl s_server');
  return { child, port };
}

function makePki(): { paths: PkiPaths; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'coap-fleet-bench-pki-'));
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 20_000 }); };
  const key = (name: string): void => openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  key('ca');
  openssl('req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=bench CA', '-out', 'ca.pem');
  for (const [name, subject] of [['server', '/CN=gateway'], ['client', '/CN=node:bench']] as const) {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-out', `${name}.pem`);
  }
  return {
    paths: {
      ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key'),
      clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key'),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const say = (text: string): void => { process.stderr.write(`  dtls: ${text}\n`); };

// ---- measurements ---------------------------------------------------------------------

/** Handshakes of one mode against our server and s_server, rounds interleaved. */
async function handshakes(report: Report, mode: Mode, pki: PkiPaths): Promise<void> {
  const ours = await ourServer({ scheme: 'coaps', mode, pki, sessions: 20_000 });
  const openssl = await opensslServer(mode, pki);
  const suite = SUITE_NAME[mode];
  try {
    const servers = [{ impl: OURS, ...ours }, { impl: OPENSSL, ...openssl }];
    const samples = new Map(servers.map((server) => [server.impl, { rate: [] as number[], cpu: [] as number[], latency: [] as number[] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const server of servers) {
        const before = cpuSeconds(server.child.pid);
        const config: HandshakesConfig = { port: server.port, mode, pki, durationMs: HANDSHAKE_MS[mode], maxCount: 20_000, concurrency: 1 };
        const result = await runChild<HandshakesResult>('handshakes', config);
        const cpu = cpuSeconds(server.child.pid) - before;
        if (result.count === 0) throw new Error(`no ${suite} handshake with ${server.impl} completed (${result.failed} failed): ${server.child.output()}`);
        const sample = samples.get(server.impl)!;
        sample.rate.push(result.count / result.seconds);
        sample.cpu.push((cpu / result.count) * 1000);
        sample.latency.push(result.medianMs);
        say(`${suite} handshakes with ${server.impl}: ${result.count} in ${result.seconds.toFixed(2)} s, ${result.failed} failed, server CPU ${(cpu * 1000).toFixed(0)} ms`);
      }
    }
    for (const [impl, sample] of samples) {
      report.add(BENCH, impl, `${suite} handshakes/s, one client at a time`, median(sample.rate));
      report.add(BENCH, impl, `${suite} handshake, server CPU ms`, median(sample.cpu));
      report.add(BENCH, impl, `${suite} handshake, median ms seen by the client`, median(sample.latency));
    }
    // s_server serves one client at a time; ours takes many at once.
    const before = cpuSeconds(ours.child.pid);
    const parallel = await runChild<HandshakesResult>('handshakes', { port: ours.port, mode, pki, durationMs: HANDSHAKE_MS[mode], maxCount: 20_000, concurrency: 8 });
    const cpu = cpuSeconds(ours.child.pid) - before;
    report.add(BENCH, OURS, `${suite} handshakes/s, 8 clients at once`, parallel.count / parallel.seconds);
    say(`${suite} handshakes, 8 at once: ${parallel.count} in ${parallel.seconds.toFixed(2)} s, server CPU ${(cpu * 1000 / Math.max(1, parallel.count)).toFixed(2)} ms each`);
  } finally {
    await ours.child.stop();
    await openssl.child.stop();
  }
}

/** libcoap's coap-server-openssl with a PSK, holding a 1 KiB resource made by PUT. */
async function libcoapServer(): Promise<{ child: Child; port: number } | undefined> {
  try {
    execFileSync('sh', ['-c', 'command -v coap-server-openssl'], { stdio: 'ignore' });
  } catch {
    say('coap-server-openssl is not installed (apt-get install libcoap3-bin): no libcoap row');
    return undefined;
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const child = launch('coap-server-openssl', ['-A', HOST, '-p', String(port), '-k', BENCH_KEY, '-d', '4']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (/bind|in use/i.test(child.output())) {
      await child.stop();
      continue;
    }
    // Its DTLS port is port + 1; create the resource with our own client.
    const { createDtlsEndpoint } = await import('../../src/dtls/dtls-endpoint.js');
    const client = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity: 'node:bench', key: Buffer.from(BENCH_KEY) }, host: HOST, port: 0 });
    try {
      await client.request({ uri: `coaps://${HOST}:${port + 1}${KIB_PATH}`, method: 3, payload: Buffer.alloc(1024, 0x61), timeoutMs: 10_000 });
      return { child, port: port + 1 };
    } catch (error) {
      await child.stop();
      throw error;
    } finally {
      await client.close();
    }
  }
  return undefined;
}

/** 1 KiB GETs over one established session, ours beside libcoap-OpenSSL in the same rounds
 * (and beside our plain UDP unless `recordOnly`); K=16's server CPU is also the issue-14
 * row `dtls_get_1k_cpu_us` (the `dtls-record` benchmark runs only that). */
export async function requests(report: Report, { recordOnly = false } = {}): Promise<void> {
  const servers: Array<{ impl: string; scheme: 'coap' | 'coaps'; child: Child; port: number }> = [];
  try {
    servers.push({ impl: OURS, scheme: 'coaps', ...await ourServer({ scheme: 'coaps', mode: 'psk', sessions: 1000 }) });
    const libcoap = await libcoapServer();
    if (libcoap !== undefined) servers.push({ impl: LIBCOAP, scheme: 'coaps', ...libcoap });
    if (!recordOnly) servers.push({ impl: PLAIN, scheme: 'coap', ...await ourServer({ scheme: 'coap', mode: 'psk', sessions: 1 }) });
    // One unrecorded round per server first, as the other benchmarks warm up: V8 compiles
    // the hot WebAssembly functions optimised in background threads (dynamic tiering), CPU
    // the server's /proc counts, once per process.
    for (const server of servers) {
      await runChild<RequestsResult>('requests', { port: server.port, scheme: server.scheme, durationMs: REQUEST_MS, outstanding: 16, maxCount: 60_000 } satisfies RequestsConfig);
    }
    for (const outstanding of recordOnly ? [16] : [1, 16]) {
      const samples = new Map(servers.map((server) => [server.impl, { rate: [] as number[], cpu: [] as number[] }]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const server of servers) {
          const config = { port: server.port, scheme: server.scheme, durationMs: REQUEST_MS, outstanding, maxCount: 60_000, warmupMs: WARMUP_MS } satisfies RequestsConfig;
          const { result, cpu } = await measuredRequests(server.child.pid, config);
          samples.get(server.impl)!.rate.push(result.count / result.seconds);
          samples.get(server.impl)!.cpu.push(result.count === 0 ? Number.NaN : (cpu / result.count) * 1e6);
          say(`1 KiB GETs, K=${outstanding}, ${server.impl}: ${result.count} in ${result.seconds.toFixed(2)} s, ${result.failed} failed`);
        }
      }
      for (const [impl, sample] of samples) {
        report.add(BENCH, impl, `1 KiB GET/s over an established session, K=${outstanding}`, median(sample.rate));
        report.add(BENCH, impl, `1 KiB GET, server CPU µs, K=${outstanding}`, median(sample.cpu));
        if (outstanding === 16 && impl !== PLAIN) report.add(BENCH, impl, 'dtls_get_1k_cpu_us', median(sample.cpu));
      }
    }
  } finally {
    for (const server of servers) await server.child.stop();
  }
}

/** Opens `count` sessions from HOLD_CHILDREN children (sockets kept open). */
export async function holdSessions(port: number, count: number, credentials: Pick<HoldConfig, 'mode' | 'pki' | 'ping'> = {}): Promise<Child[]> {
  const holders: Child[] = [];
  const each = Math.ceil(count / HOLD_CHILDREN);
  const results = await Promise.all(Array.from({ length: HOLD_CHILDREN }, async () => {
    const config: HoldConfig = { port, count: each, batch: HOLD_BATCH, ...credentials };
    const child = nodeChild('hold', config);
    holders.push(child);
    let last = { established: 0, failed: 0 };
    while (last.established + last.failed < each) last = JSON.parse(await child.line()) as typeof last;
    return last;
  }));
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  if (failed > 0) say(`${failed} of ${count} sessions failed to open`);
  return holders;
}

async function sessions(report: Report): Promise<void> {
  const server = await ourServer({ scheme: 'coaps', mode: 'psk', sessions: 20_000 });
  const holders: Child[] = [];
  try {
    const baseline = await serverStats(server.child);
    holders.push(...await holdSessions(server.port, SESSIONS_FIRST));
    const first = await serverStats(server.child);
    const perSession = (first.heapInUse - baseline.heapInUse) / first.sessions;
    report.add(BENCH, OURS, `module heap bytes per PSK session (${first.sessions.toLocaleString('en-US')} sessions)`, perSession);
    say(`${first.sessions} sessions: module heap ${first.heapInUse} bytes (baseline ${baseline.heapInUse}), RSS ${(residentMiB(server.child.pid)).toFixed(0)} MiB`);
    holders.push(...await holdSessions(server.port, SESSIONS_TOTAL - SESSIONS_FIRST));
    const all = await serverStats(server.child);
    const rss = residentMiB(server.child.pid);
    report.add(BENCH, OURS, 'PSK sessions established and held', all.sessions);
    report.add(BENCH, OURS, `server RSS MiB holding ${SESSIONS_TOTAL.toLocaleString('en-US')} PSK sessions`, rss);
    report.add(BENCH, OURS, 'server RSS MiB with no session', baseline.rss / (1024 * 1024));
    say(`${all.sessions} sessions: module heap ${all.heapInUse} bytes, RSS ${rss.toFixed(0)} MiB`);
  } finally {
    for (const holder of holders) await holder.stop();
    await server.child.stop();
  }
}

/** Module heap per session when the sessions are certificate ones (our bare server). */
async function certificateSessions(report: Report, pki: PkiPaths): Promise<void> {
  const server = await ourServer({ scheme: 'coaps', mode: 'certificate', pki, sessions: 20_000 });
  const holders: Child[] = [];
  try {
    const baseline = await serverStats(server.child);
    holders.push(...await holdSessions(server.port, SESSIONS_FIRST, { mode: 'certificate', pki }));
    const held = await serverStats(server.child);
    report.add(BENCH, OURS, `module heap bytes per certificate session (${held.sessions.toLocaleString('en-US')} sessions)`, (held.heapInUse - baseline.heapInUse) / held.sessions);
    say(`${held.sessions} certificate sessions: module heap ${held.heapInUse} bytes (baseline ${baseline.heapInUse})`);
  } finally {
    for (const holder of holders) await holder.stop();
    await server.child.stop();
  }
}

const GATEWAY = 'coap-fleet gateway';
/** dist/bench/macro/ → the repository's bin/. */
const BIN = fileURLToPath(new URL('../../../bin/coap-fleet.js', import.meta.url));

/** The gateway process on a fresh data directory with PSK or certificate credentials (the
 * bench PKI: its clients are node:bench either way); its DTLS port once it is ready. */
async function gatewayProcess(mode: Mode, pki: PkiPaths, dir: string): Promise<{ child: Child; port: number }> {
  const ready = join(dir, `${mode}.ready`);
  const credentials = mode === 'psk'
    ? ['--psk-file', join(dir, 'psk.json')]
    : ['--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--ca-file', pki.ca];
  writeFileSync(join(dir, 'psk.json'), JSON.stringify({ [BENCH_IDENTITY]: Buffer.from(BENCH_KEY).toString('hex') }));
  const child = launch(process.execPath, [
    BIN, 'server', '--data-dir', join(dir, `data-${mode}`), '--port', 'off', '--dtls-host', HOST, '--dtls-port', '0',
    '--ready-file', ready, '--log-level', 'error', ...credentials,
  ]);
  const deadline = Date.now() + 30_000;
  while (!existsSync(ready)) {
    if (Date.now() > deadline) throw new Error(`the gateway did not start: ${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, port: (JSON.parse(readFileSync(ready, 'utf8')) as { coaps_port: number }).coaps_port };
}

/** At the gateway: RSS per held session, then handshakes (one client at a time, with those
 * sessions held), PSK and certificates. */
async function gatewayHandshakes(report: Report, pki: PkiPaths): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'coap-fleet-bench-gateway-'));
  try {
    for (const mode of ['psk', 'certificate'] as const) {
      const suite = SUITE_NAME[mode];
      const gateway = await gatewayProcess(mode, pki, dir);
      const holders: Child[] = [];
      try {
        // Sessions first, on the fresh process: the module's memory only grows, and the
        // handshakes' peak would hide what the sessions add.
        const before = residentMiB(gateway.child.pid);
        holders.push(...await holdSessions(gateway.port, SESSIONS_FIRST, { mode, pki }));
        const after = residentMiB(gateway.child.pid);
        report.add(BENCH, GATEWAY, `gateway RSS KiB per ${suite} session (${SESSIONS_FIRST.toLocaleString('en-US')} held)`, ((after - before) * 1024) / SESSIONS_FIRST);
        say(`${SESSIONS_FIRST} ${suite} sessions at the gateway: RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`);
        const rate: number[] = [];
        const cpu: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const before = cpuSeconds(gateway.child.pid);
          const result = await runChild<HandshakesResult>('handshakes', { port: gateway.port, mode, pki, durationMs: HANDSHAKE_MS[mode], maxCount: 20_000, concurrency: 1 });
          const used = cpuSeconds(gateway.child.pid) - before;
          if (result.count === 0) throw new Error(`no ${suite} handshake with the gateway completed (${result.failed} failed): ${gateway.child.output()}`);
          rate.push(result.count / result.seconds);
          cpu.push((used / result.count) * 1000);
          say(`${suite} handshakes at the gateway: ${result.count} in ${result.seconds.toFixed(2)} s, ${result.failed} failed, CPU ${(used * 1000).toFixed(0)} ms`);
        }
        report.add(BENCH, GATEWAY, `${suite} handshakes/s at the gateway, one client at a time`, median(rate));
        report.add(BENCH, GATEWAY, `${suite} handshake at the gateway, its CPU ms`, median(cpu));
      } finally {
        for (const holder of holders) await holder.stop();
        await gateway.child.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function moduleSize(report: Report): void {
  const path = findWasm();
  report.add(BENCH, OURS, 'module size bytes', statSync(path).size);
  report.add(BENCH, OURS, 'module size bytes, gzip -9', gzipSync(readFileSync(path), { level: 9 }).length);
}

export const dtlsBenchmark: Benchmark = {
  name: BENCH,
  async run(report) {
    const pki = makePki();
    try {
      moduleSize(report);
      for (const mode of ['psk', 'certificate'] as const) await handshakes(report, mode, pki.paths);
      await requests(report);
      await sessions(report);
      await certificateSessions(report, pki.paths);
      await gatewayHandshakes(report, pki.paths);
    } finally {
      killAll();
      pki.remove();
    }
  },
};
