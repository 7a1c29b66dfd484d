// The child processes of the DTLS benchmark (dtls.bench.ts), so that server and clients
// never share a process, a CPU clock or a module heap: `node dtls-children.js ROLE JSON`.
//   server      our CoAP server over DTLS (or plain UDP): prints its port, answers a
//               `stats` line on stdin with a JSON line (sessions, module heap, RSS).
//   handshakes  sequential (or N at once) full handshakes, each from a new socket and
//               ended with close_notify, against any DTLS server; prints one JSON result.
//   hold        opens sessions from new sockets in batches and keeps the sockets (so the
//               server keeps a session per address); prints a JSON line per batch.
//   requests    1 KiB GETs over one session (or plain UDP), K outstanding, for a while.
// Every child exits when its stdin closes: a benchmark that dies leaves no process behind.

import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DtlsContext, type DtlsContextOptions } from '../../src/dtls/context.js';
import { createDtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import type { DtlsSession } from '../../src/dtls/session.js';
import { DtlsModule } from '../../src/dtls/wasm-module.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';

export const HOST = '127.0.0.1';
export const BENCH_IDENTITY = 'node:bench';
/** Text, as libcoap's -k takes it; openssl's -psk takes its hex. */
export const BENCH_KEY = 'coap-fleet-bench';
export const KIB_PATH = '/kib';
const KIB = Buffer.alloc(1024, 0x61);
/** Version 1, CON, no token, code 0.00, message ID 1. */
const COAP_PING = Buffer.from([0x40, 0x00, 0x00, 0x01]);

/** PEM files of a throwaway P-256 PKI (made by the parent with the openssl CLI). */
export interface PkiPaths {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export type Mode = 'psk' | 'certificate';

export interface ServerConfig {
  readonly scheme: 'coap' | 'coaps';
  readonly mode: Mode;
  readonly pki?: PkiPaths;
  readonly sessions: number;
  /** limits.hibernateAfterMs (default 0: never). */
  readonly hibernateAfterMs?: number;
}

export interface HandshakesConfig {
  readonly port: number;
  readonly mode: Mode;
  readonly pki?: PkiPaths;
  readonly durationMs: number;
  readonly maxCount: number;
  /** Handshakes in flight at once (s_server takes one at a time: 1). */
  readonly concurrency: number;
}

export interface HandshakesResult {
  readonly count: number;
  readonly failed: number;
  readonly seconds: number;
  readonly medianMs: number;
}

export interface HoldConfig {
  readonly port: number;
  readonly count: number;
  readonly batch: number;
  /** Default psk; certificate needs `pki`. */
  readonly mode?: Mode;
  readonly pki?: PkiPaths;
  /** Send a CoAP ping (an empty CON, RFC 7252 §4.3) over each session once established,
   * as a node's first request would: the server's last flight is then acknowledged
   * (RFC 6347 §4.2.4) and its session can hibernate. */
  readonly ping?: boolean;
}

export interface RequestsConfig {
  readonly port: number;
  readonly scheme: 'coap' | 'coaps';
  readonly durationMs: number;
  readonly outstanding: number;
  readonly maxCount: number;
  /** Uncounted requests first, for this long, then a line `measuring` on stdout: the
   * server's CPU is read from there, over a warmed-up client's steady rate. */
  readonly warmupMs?: number;
}

export interface RequestsResult {
  readonly count: number;
  readonly failed: number;
  readonly seconds: number;
}

const pskKey = (): Buffer => Buffer.from(BENCH_KEY, 'utf8');

function clientOptions(mode: Mode, pki: PkiPaths | undefined, module: DtlsModule): DtlsContextOptions {
  if (mode === 'psk') return { role: 'client', mode, module, psk: { identity: BENCH_IDENTITY, key: pskKey() } };
  const read = (path: string): string => readFileSync(path, 'utf8');
  return { role: 'client', mode, module, certificates: { ca: read(pki!.ca), cert: read(pki!.clientCert), key: read(pki!.clientKey) } };
}

async function bindSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => { socket.off('error', reject); resolve(); });
  });
  socket.on('error', () => { /* an ICMP error from a closed server: the handshake times out */ });
  return socket;
}

/** One full handshake from a fresh socket. Resolves with the session (established or
 * failed) and its socket, still open. */
async function handshake(context: DtlsContext, port: number): Promise<{ session: DtlsSession; socket: Socket; ms: number }> {
  const socket = await bindSocket();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const session = context.connect({ onSend: (datagram) => socket.send(datagram, port, HOST) });
  const arm = (): void => {
    clearTimeout(timer);
    const delay = session.nextTimeoutMs();
    if (delay !== undefined && session.state === 'handshaking') timer = setTimeout(() => { session.onTimer(); arm(); }, delay);
  };
  await new Promise<void>((resolve) => {
    const check = (): void => {
      arm();
      if (session.state !== 'handshaking') resolve();
    };
    socket.on('message', (datagram) => {
      session.receive(datagram);
      check();
    });
    check();
  });
  clearTimeout(timer);
  socket.removeAllListeners('message');
  return { session, socket, ms: performance.now() - started };
}

const closeSocket = (socket: Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[sorted.length >> 1]!;
};

async function runHandshakes(config: HandshakesConfig): Promise<HandshakesResult> {
  const module = await DtlsModule.load();
  const context = new DtlsContext(module, { ...clientOptions(config.mode, config.pki, module), handshakeTimeout: { initialMs: 1000, maxMs: 4000 } });
  const latencies: number[] = [];
  let failed = 0;
  const deadline = performance.now() + config.durationMs;
  const started = performance.now();
  let begun = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && begun < config.maxCount) {
      begun++;
      const { session, socket, ms } = await handshake(context, config.port);
      if (session.state === 'established') latencies.push(ms);
      else failed++;
      session.close(); // close_notify: s_server goes back to listening for the next client
      await new Promise((resolve) => setImmediate(resolve));
      await closeSocket(socket);
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  context.close();
  return { count: latencies.length, failed, seconds, medianMs: median(latencies) };
}

async function runHold(config: HoldConfig): Promise<void> {
  const module = await DtlsModule.load();
  const context = new DtlsContext(module, { ...clientOptions(config.mode ?? 'psk', config.pki, module), handshakeTimeout: { initialMs: 1000, maxMs: 8000 } });
  const sockets: Socket[] = [];
  let established = 0;
  let failed = 0;
  for (let opened = 0; opened < config.count;) {
    const size = Math.min(config.batch, config.count - opened);
    const results = await Promise.all(Array.from({ length: size }, () => handshake(context, config.port)));
    for (const { session, socket } of results) {
      if (session.state === 'established') established++;
      else failed++;
      if (config.ping === true && session.state === 'established') session.send(COAP_PING);
      // The server keeps its session; this side needs only the socket (the address).
      session.destroy();
      socket.on('message', () => {});
      sockets.push(socket);
    }
    opened += size;
    process.stdout.write(`${JSON.stringify({ established, failed })}\n`);
  }
  context.close();
  await stdinClosed();
  for (const socket of sockets) socket.close();
}

async function runRequests(config: RequestsConfig): Promise<RequestsResult> {
  const uri = `${config.scheme}://${HOST}:${config.port}${KIB_PATH}`;
  const endpoint = config.scheme === 'coap'
    ? await Endpoint.udp({ host: HOST, port: 0 })
    : await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity: BENCH_IDENTITY, key: pskKey() }, host: HOST, port: 0 });
  try {
    await endpoint.request({ uri, timeoutMs: 10_000 }); // the handshake, outside the clock
    const run = async (durationMs: number, maxCount: number): Promise<RequestsResult> => {
      let count = 0;
      let failed = 0;
      let begun = 0;
      const started = performance.now();
      const deadline = started + durationMs;
      const worker = async (): Promise<void> => {
        while (performance.now() < deadline && begun < maxCount) {
          begun++;
          try {
            const response = await endpoint.request({ uri, timeoutMs: 5000 });
            if (response.payload.length === KIB.length) count++;
            else failed++;
          } catch {
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: config.outstanding }, worker));
      return { count, failed, seconds: (performance.now() - started) / 1000 };
    };
    if (config.warmupMs !== undefined) {
      await run(config.warmupMs, config.maxCount);
      process.stdout.write('measuring\n');
    }
    return await run(config.durationMs, config.maxCount);
  } finally {
    await endpoint.close();
  }
}

async function runServer(config: ServerConfig): Promise<void> {
  const module = await DtlsModule.load();
  const read = (path: string): string => readFileSync(path, 'utf8');
  const dtls = config.scheme === 'coap' ? undefined : await createDtlsEndpoint({
    role: 'server', module, host: HOST, port: 0, receiveBufferSize: 4 * 1024 * 1024,
    limits: { sessions: config.sessions, halfOpen: 512, hibernateAfterMs: config.hibernateAfterMs ?? 0 },
    ...(config.mode === 'psk'
      ? { mode: 'psk' as const, pskLookup: (identity: string) => (identity === BENCH_IDENTITY ? pskKey() : undefined) }
      : { mode: 'certificate' as const, certificates: { ca: read(config.pki!.ca), cert: read(config.pki!.serverCert), key: read(config.pki!.serverKey) } }),
  });
  const endpoint = dtls ?? await Endpoint.udp({ host: HOST, port: 0 });
  endpoint.router.add(KIB_PATH, { handlers: { GET: () => ({ code: ResponseCode.Content, payload: KIB }) } });
  process.stdin.setEncoding('utf8');
  let buffered = '';
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== 'stats') continue;
      const stats = dtls?.transport.stats();
      process.stdout.write(`${JSON.stringify({
        sessions: stats?.sessions ?? 0, hibernated: stats?.hibernated ?? 0, halfOpen: stats?.halfOpen ?? 0,
        heapInUse: stats?.heap.inUse ?? 0, rss: process.memoryUsage().rss, jsHeap: process.memoryUsage().heapUsed, arrayBuffers: process.memoryUsage().arrayBuffers,
      })}\n`);
    }
  });
  process.stdout.write(`${endpoint.address().port}\n`);
  await stdinClosed();
  await endpoint.close();
}

function stdinClosed(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.once('end', () => resolve());
    process.stdin.once('error', () => resolve());
    process.once('SIGTERM', () => resolve());
    process.stdin.resume();
  });
}

async function main(role: string | undefined, json: string | undefined): Promise<void> {
  const config = JSON.parse(json ?? '{}') as unknown;
  switch (role) {
    case 'server':
      await runServer(config as ServerConfig);
      break;
    case 'handshakes':
      process.stdout.write(`${JSON.stringify(await runHandshakes(config as HandshakesConfig))}\n`);
      break;
    case 'hold':
      await runHold(config as HoldConfig);
      break;
    case 'requests':
      process.stdout.write(`${JSON.stringify(await runRequests(config as RequestsConfig))}\n`);
      break;
    default:
      throw new Error(`unknown child role ${String(role)}`);
  }
  process.exit(0);
}

export const CHILD_SCRIPT = fileURLToPath(import.meta.url);

if (process.argv[1] === CHILD_SCRIPT) await main(process.argv[2], process.argv[3]);
