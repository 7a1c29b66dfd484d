// A closed-loop CoAP load generator on one UDP socket: K confirmable GETs outstanding,
// each answer starting the next request, for a bounded time or count. It speaks just
// enough of RFC 7252 for that: §4.2 retransmission (ACK_TIMEOUT with random factor,
// doubling, MAX_RETRANSMIT), matching by message ID and token (§4.4, §5.3.2), separate
// responses after an empty ACK (§5.2.2). It shares no code with src/, so a bug in our
// codec cannot hide on both sides of the measurement.

import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';

export interface Target {
  readonly address: string;
  readonly port: number;
}

export interface LoadOptions {
  readonly target: Target;
  /** Uri-Path segments of the GET. */
  readonly path: readonly string[];
  /** Requests outstanding at once (K). */
  readonly outstanding: number;
  /** Requests started at most; no more than one socket's worth of message IDs. */
  readonly maxRequests: number;
  /** No request starts after this. */
  readonly durationMs: number;
  /** How long requests still outstanding then may take to finish before they count as lost. */
  readonly drainMs: number;
}

export interface LoadResult {
  readonly started: number;
  /** 2.05 responses, including those that arrived while draining. */
  readonly succeeded: number;
  /** RST, a code other than 2.05, the last retransmission timing out, or still open after the drain. */
  readonly failed: number;
  readonly retransmissions: number;
  /** Answers that matched no open request: late duplicates, or a wrong token for the message ID. */
  readonly unmatched: number;
  /** From the first request sent to the last one started. */
  readonly windowSeconds: number;
  /** 2.05 responses received within the window, per second of it. */
  readonly requestsPerSecond: number;
  /** Of every 2.05, from its first transmission to its response, ascending. */
  readonly latenciesMs: Float64Array;
  /** The first response's bytes, to show what each server sends. */
  readonly sampleResponse: Buffer | undefined;
}

// RFC 7252 §4.8 defaults.
const ACK_TIMEOUT_MS = 2_000;
const ACK_RANDOM_FACTOR = 1.5;
const MAX_RETRANSMIT = 4;
/** §4.4: a message ID may be reused after EXCHANGE_LIFETIME (247 s) only, so one socket
 * (one source port, one endpoint pair for the server) carries at most 2^16 requests. */
export const MAX_REQUESTS_PER_SOCKET = 0x10000;

const VERSION = 1;
const CON = 0;
const ACK = 2;
const RST = 3;
const GET = 1;
const CONTENT = 0x45; // 2.05
const EMPTY = 0;
const URI_PATH = 11;
const TOKEN_LENGTH = 4;

/** Retransmission deadlines are checked this often: a sweep of at most K open requests
 * is cheaper and simpler than a timer per request, and 50 ms is far below ACK_TIMEOUT. */
const SWEEP_MS = 50;

/** Source ports this process has used. The OS could hand a closed socket's port out again,
 * and the server would then see an endpoint pair whose message IDs it still remembers. */
const usedLocalPorts = new Set<number>();

interface Open {
  readonly messageId: number;
  readonly token: number;
  readonly bytes: Buffer;
  readonly firstSentAt: number;
  retransmissions: number;
  timeoutMs: number;
  retransmitAt: number;
  /** An empty ACK came: stop retransmitting, wait for the separate response (§5.2.2). */
  acknowledged: boolean;
}

/** CON GET with a 4-byte token and the Uri-Path options; message ID and token are written per request. */
function requestTemplate(path: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([(VERSION << 6) | (CON << 4) | TOKEN_LENGTH, GET, 0, 0]), Buffer.alloc(TOKEN_LENGTH)];
  path.forEach((segment, index) => {
    const value = Buffer.from(segment, 'utf8');
    if (value.length > 255 + 13) throw new RangeError(`path segment too long for this generator: ${segment}`);
    const delta = index === 0 ? URI_PATH : 0;
    parts.push(value.length < 13 ? Buffer.from([(delta << 4) | value.length]) : Buffer.from([(delta << 4) | 13, value.length - 13]), value);
  });
  return Buffer.concat(parts);
}

/** A UDP socket on an ephemeral loopback port this process has not used before. */
export async function bindFreshSocket(address: string): Promise<Socket> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address.includes(':') ? '::1' : '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const { port } = socket.address();
    if (!usedLocalPorts.has(port)) {
      usedLocalPorts.add(port);
      // ICMP errors and the like must not take the benchmark down; losses show as retransmissions.
      socket.on('error', () => {});
      return socket;
    }
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  throw new Error('no unused ephemeral UDP port after 20 attempts');
}

const closeSocket = (socket: Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

/** Sends a CON GET every 50 ms until one is answered (any ACK or RST), for up to `timeoutMs`. */
export async function waitUntilAnswering(target: Target, path: readonly string[], timeoutMs: number): Promise<void> {
  const socket = await bindFreshSocket(target.address);
  const template = requestTemplate(path);
  try {
    await new Promise<void>((resolve, reject) => {
      let messageId = (Math.random() * 0x10000) >>> 0;
      const send = (): void => {
        const bytes = Buffer.from(template);
        messageId = (messageId + 1) & 0xffff;
        bytes.writeUInt16BE(messageId, 2);
        socket.send(bytes, target.port, target.address);
      };
      const interval = setInterval(send, 50);
      const deadline = setTimeout(() => {
        clearInterval(interval);
        reject(new Error(`no answer from ${target.address}:${target.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.on('message', (data) => {
        const type = data.length >= 4 ? (data[0]! >> 4) & 0x3 : -1;
        if (type !== ACK && type !== RST) return;
        clearInterval(interval);
        clearTimeout(deadline);
        resolve();
      });
      send();
    });
  } finally {
    await closeSocket(socket);
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, percent: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((percent / 100) * sorted.length) - 1))]!;
}

/** Runs one measurement on a fresh socket, closed at the end. */
export async function generateLoad(options: LoadOptions): Promise<LoadResult> {
  const { target, outstanding, maxRequests, durationMs, drainMs } = options;
  if (!(Number.isInteger(outstanding) && outstanding >= 1)) throw new RangeError('outstanding must be an integer >= 1');
  if (!(Number.isInteger(maxRequests) && maxRequests >= 1 && maxRequests <= MAX_REQUESTS_PER_SOCKET)) {
    throw new RangeError(`maxRequests must be 1..${MAX_REQUESTS_PER_SOCKET}: message IDs are not reused on a socket`);
  }
  const socket = await bindFreshSocket(target.address);
  // A connected socket sends without a per-datagram address lookup (node:dgram defers
  // each send to the next tick for it) and receives from the server only.
  await new Promise<void>((resolve) => socket.connect(target.port, target.address, resolve));
  const template = requestTemplate(options.path);
  // §4.4 and §5.3.1: a random start for both; counting up from it keeps every message ID
  // and token on this socket distinct, since maxRequests <= 2^16.
  const firstMessageId = (Math.random() * 0x10000) >>> 0;
  const firstToken = (Math.random() * 0x100000000) >>> 0;
  /** Open requests by message ID, and by token for separate responses. Entries are
   * removed on completion or failure; at most `outstanding` of each. */
  const byMessageId = new Map<number, Open>();
  const byToken = new Map<number, Open>();
  const latencies = new Float64Array(maxRequests);
  let succeeded = 0;
  let succeededInWindow = 0;
  let failed = 0;
  let retransmissions = 0;
  let unmatched = 0;
  let started = 0;
  let sampleResponse: Buffer | undefined;

  const startedAt = performance.now();
  const windowEnd = startedAt + durationMs;
  let stoppedAt: number | undefined;
  let onStopped: () => void = () => {};
  let onDrained: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { onStopped = resolve; });
  const drained = new Promise<void>((resolve) => { onDrained = resolve; });

  const stopStarting = (now: number): void => {
    if (stoppedAt !== undefined) return;
    stoppedAt = now;
    onStopped();
    if (byMessageId.size === 0) onDrained();
  };

  const startOne = (now: number): void => {
    if (stoppedAt !== undefined) return;
    if (started >= maxRequests || now >= windowEnd) {
      stopStarting(now);
      return;
    }
    const messageId = (firstMessageId + started) & 0xffff;
    const token = (firstToken + started) >>> 0;
    started++;
    const bytes = Buffer.from(template);
    bytes.writeUInt16BE(messageId, 2);
    bytes.writeUInt32BE(token, 4);
    // §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR].
    const timeoutMs = ACK_TIMEOUT_MS * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    const open: Open = { messageId, token, bytes, firstSentAt: now, retransmissions: 0, timeoutMs, retransmitAt: now + timeoutMs, acknowledged: false };
    byMessageId.set(messageId, open);
    byToken.set(token, open);
    socket.send(bytes);
  };

  /** Ends a request: a 2.05 is timed, anything else fails; the next one starts in its place. */
  const complete = (open: Open, now: number, code: number | undefined): void => {
    byMessageId.delete(open.messageId);
    byToken.delete(open.token);
    if (code === CONTENT) {
      latencies[succeeded++] = now - open.firstSentAt;
      if (stoppedAt === undefined) succeededInWindow++;
    } else {
      failed++;
    }
    if (stoppedAt === undefined) startOne(now);
    else if (byMessageId.size === 0) onDrained();
  };

  socket.on('message', (data) => {
    const now = performance.now();
    if (data.length < 4) return;
    const type = (data[0]! >> 4) & 0x3;
    const tokenLength = data[0]! & 0xf;
    const code = data[1]!;
    const messageId = (data[2]! << 8) | data[3]!;
    const token = tokenLength === TOKEN_LENGTH && data.length >= 4 + TOKEN_LENGTH ? data.readUInt32BE(4) : -1;
    sampleResponse ??= Buffer.from(data);
    if (type === ACK || type === RST) {
      const open = byMessageId.get(messageId);
      if (open === undefined || open.acknowledged) {
        unmatched++;
        return;
      }
      if (type === RST) {
        complete(open, now, undefined);
      } else if (code === EMPTY) {
        open.acknowledged = true;
      } else if (token !== open.token) {
        // §5.3.2: a piggybacked response matches on message ID and token both.
        unmatched++;
      } else {
        complete(open, now, code);
      }
      return;
    }
    // A separate response (§5.2.2), CON or NON, matched by token alone. A CON is
    // acknowledged; one for no open request is rejected (§4.2).
    const open = token === -1 ? undefined : byToken.get(token);
    if (type === CON) {
      const answer = Buffer.from([(VERSION << 6) | ((open === undefined ? RST : ACK) << 4), EMPTY, data[2]!, data[3]!]);
      socket.send(answer);
    }
    if (open === undefined) unmatched++;
    else complete(open, now, code);
  });

  const sweep = setInterval(() => {
    const now = performance.now();
    if (now >= windowEnd) stopStarting(now);
    for (const open of byMessageId.values()) {
      if (open.acknowledged || now < open.retransmitAt) continue;
      if (open.retransmissions >= MAX_RETRANSMIT) {
        complete(open, now, undefined);
        continue;
      }
      open.retransmissions++;
      retransmissions++;
      open.timeoutMs *= 2;
      open.retransmitAt = now + open.timeoutMs;
      socket.send(open.bytes);
    }
  }, SWEEP_MS);

  const windowTimer = setTimeout(() => stopStarting(performance.now()), durationMs);
  for (let i = 0; i < outstanding; i++) startOne(performance.now());
  await stopped;
  // The drain is bounded: what is still open when it ends counts as failed.
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([drained, new Promise<void>((resolve) => { drainTimer = setTimeout(resolve, drainMs); })]);
  clearTimeout(windowTimer);
  clearTimeout(drainTimer);
  clearInterval(sweep);
  failed += byMessageId.size;
  byMessageId.clear();
  byToken.clear();
  await closeSocket(socket);

  const windowSeconds = (stoppedAt! - startedAt) / 1000;
  const sorted = latencies.slice(0, succeeded).sort();
  return {
    started, succeeded, failed, retransmissions, unmatched, windowSeconds,
    requestsPerSecond: succeededInWindow / windowSeconds,
    latenciesMs: sorted,
    sampleResponse,
  };
}
