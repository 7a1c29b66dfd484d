// Our DTLS server endpoint on a real loopback socket under hostile input: random datagrams,
// replayed and bit-flipped records (from the client's own address and from elsewhere), a
// ClientHello flood from many source ports, and a soak of PSK clients that vanish without
// close_notify. An established session keeps answering throughout, the session and
// half-open counts stay within their bounds, and the server's module heap comes back to
// its baseline once idle sessions are evicted.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { DtlsContext } from '../../src/dtls/context.js';
import { createDtlsEndpoint, DtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import { DtlsTransport } from '../../src/dtls/transport-dtls.js';
import { DtlsModule } from '../../src/dtls/wasm-module.js';
import { ensureWasm } from '../helpers/wasm.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import type { DatagramHandler, Logger, PeerAddress, Transport } from '../../src/protocol/interfaces.js';
import { UdpTransport } from '../../src/protocol/transport-udp.js';

await ensureWasm();
const LOOPBACK = '127.0.0.1';
const KEY = Buffer.from('hostile-test-key');
const HALF_OPEN_LIMIT = 32;
const SESSION_LIMIT = 1000;
const FAST = { handshakeTimeout: { initialMs: 100, maxMs: 400 } } as const;

// The server has a module of its own, so its heap counts only its sessions.
const serverModule = await DtlsModule.load();
const floodModule = await DtlsModule.load();

async function waitFor(what: string, condition: () => boolean, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until `count` has not changed for 300 ms (at most 20 s). */
async function quiescent(count: () => number): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = count();
  let stableSince = Date.now();
  while (Date.now() - stableSince < 300 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = count();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    }
  }
}

async function bindRaw(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, () => resolve()));
  return socket;
}

/** A UDP carrier that keeps a copy of what it sends and can send raw datagrams itself. */
class RecordingCarrier implements Transport {
  readonly scheme = 'coap' as const;
  readonly sent: Buffer[] = [];
  readonly #udp: UdpTransport;
  private constructor(udp: UdpTransport) { this.#udp = udp; }
  static async bind(): Promise<RecordingCarrier> { return new RecordingCarrier(await UdpTransport.bind({ host: LOOPBACK, port: 0 })); }
  address(): PeerAddress { return this.#udp.address(); }
  send(data: Buffer, peer: PeerAddress): void {
    if (this.sent.length < 1000) this.sent.push(Buffer.from(data));
    this.#udp.send(data, peer);
  }
  raw(data: Buffer, peer: PeerAddress): void { this.#udp.send(data, peer); }
  onDatagram(handler: DatagramHandler): void { this.#udp.onDatagram(handler); }
  close(): Promise<void> { return this.#udp.close(); }
}

interface Keeper {
  readonly answered: () => number;
  readonly failures: string[];
  stop(): Promise<void>;
}

/** An established client asking every 20 ms for as long as the test runs. */
function keepAsking(client: DtlsEndpoint, uri: string): Keeper {
  const failures: string[] = [];
  let answered = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        // Loopback drops datagrams while the flood fills the server's socket buffer (more so
        // on a loaded machine): the keeper's CON then counts on its retransmissions (2-3 s,
        // 4-6 s, 8-12 s; RFC 7252 §4.2), as a real node would.
        const response = await client.request({ uri, timeoutMs: 30_000 });
        if (response.payload.toString() === 'hello node:keeper') answered++;
        else failures.push(`unexpected answer ${response.payload.toString()}`);
      } catch (error) {
        failures.push(`${(error as { code?: string }).code ?? ''} ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return { answered: () => answered, failures, stop: async () => { running = false; await loop; } };
}

/** Records warnings and errors: a server under attack logs only at debug level. */
function recordingLogger(): Logger & { readonly problems: string[] } {
  const problems: string[] = [];
  const record = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    problems.push(`${level}: ${message ?? ''} ${JSON.stringify(objectOrMessage)}`);
  };
  return { debug: () => {}, info: () => {}, warn: record('warn'), error: record('error'), problems };
}

interface World {
  readonly server: DtlsEndpoint;
  readonly target: PeerAddress;
  readonly uri: string;
  readonly carrier: RecordingCarrier;
  readonly keeper: Keeper;
  readonly client: DtlsEndpoint;
  /** Session and half-open counts and module heap, sampled every 5 ms. */
  readonly peaks: { sessions: number; halfOpen: number; heap: number };
  close(): Promise<void>;
}

async function world(idleTimeoutMs = 60_000): Promise<World> {
  const logger = recordingLogger();
  const server = await createDtlsEndpoint({
    logger,
    role: 'server', mode: 'psk', pskLookup: (identity) => (identity.startsWith('node:') ? KEY : undefined),
    module: serverModule, host: LOOPBACK, port: 0, ...FAST,
    limits: { halfOpen: HALF_OPEN_LIMIT, sessions: SESSION_LIMIT, idleTimeoutMs },
  });
  server.router.add('/who', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `hello ${request.peer.identity ?? ''}` }) } });
  const target = server.address();
  const uri = `coaps://${LOOPBACK}:${target.port}/who`;
  const carrier = await RecordingCarrier.bind();
  const client = new DtlsEndpoint(await DtlsTransport.over(carrier, { role: 'client', mode: 'psk', psk: { identity: 'node:keeper', key: KEY }, ...FAST }));
  await client.request({ uri, timeoutMs: 5000 });
  const keeper = keepAsking(client, uri);
  const peaks = { sessions: 0, halfOpen: 0, heap: 0 };
  const sampler = setInterval(() => {
    const stats = server.transport.stats();
    peaks.sessions = Math.max(peaks.sessions, stats.sessions);
    peaks.halfOpen = Math.max(peaks.halfOpen, stats.halfOpen);
    peaks.heap = Math.max(peaks.heap, stats.heap.inUse);
  }, 5);
  return {
    server, target, uri, carrier, keeper, client, peaks,
    close: async () => {
      clearInterval(sampler);
      await keeper.stop();
      await client.close();
      await server.close();
      assert.equal(logger.problems, [], 'the server logged no warning or error');
    },
  };
}

test('random datagrams, replayed records and flipped bits: dropped, the session keeps answering', async () => {
  const w = await world();
  const attacker = await bindRaw();
  try {
    await waitFor('records of the keeper to replay', () => w.carrier.sent.length >= 40);
    const before = w.keeper.answered();
    // Random bytes, and random bytes behind plausible DTLS 1.2 record headers.
    for (let i = 0; i < 3000; i++) {
      const datagram = randomBytes(1 + Math.floor(Math.random() * 1400));
      if (i % 2 === 0) {
        datagram[0] = 20 + (i % 6);
        if (datagram.length > 2) { datagram[1] = 0xfe; datagram[2] = 0xfd; }
      }
      attacker.send(datagram, w.target.port, LOOPBACK);
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // Replays and bit flips of the client's real records, from its own address (routed to
    // its session) and from the attacker's.
    const records = w.carrier.sent.slice(-40);
    assert.ok(records.length >= 10, 'records to replay');
    for (const record of records) {
      w.carrier.raw(record, w.target);
      attacker.send(record, w.target.port, LOOPBACK);
      for (let flip = 0; flip < 5; flip++) {
        const flipped = Buffer.from(record);
        const bit = Math.floor(Math.random() * flipped.length * 8);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        w.carrier.raw(flipped, w.target);
        attacker.send(flipped, w.target.port, LOOPBACK);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await waitFor('the keeper to go on', () => w.keeper.answered() > before + 20);
    assert.equal(w.keeper.failures, [], 'the established session answered throughout');
    const stats = w.server.transport.stats();
    assert.is(stats.sessions, 1, 'only the real session');
    assert.ok(stats.counters.dropped > 0);
    assert.is(stats.counters.handshakes, 1, 'no handshake came from the garbage');
    assert.is(serverModule.heapCheck(), 0, 'the allocator is consistent');
  } finally {
    attacker.close();
    await w.close();
  }
});

test('a ClientHello flood from 50 source ports x 20 hellos, three in four passing the cookie: bounded state, the session keeps answering', async () => {
  const w = await world();
  const baseline = serverModule.heap().inUse;
  const context = new DtlsContext(floodModule, { role: 'client', mode: 'psk', psk: { identity: 'node:flood', key: Buffer.from('wrong-key-flood') }, ...FAST });
  const sockets: Socket[] = [];
  try {
    const before = w.keeper.answered();
    for (let s = 0; s < 50; s++) sockets.push(await bindRaw());
    for (let round = 0; round < 20; round++) {
      for (const [index, socket] of sockets.entries()) {
        // Each hello is a fresh handshake; three sockets in four answer the
        // HelloVerifyRequest (the server then keeps a half-open session), the others do not.
        const session = context.connect({ onSend: (datagram) => socket.send(datagram, w.target.port, LOOPBACK) });
        socket.removeAllListeners('message');
        if (index % 4 !== 3) {
          let replies = 0;
          socket.on('message', (data) => {
            if (replies++ === 0) session.receive(data);
          });
        }
        // The client side keeps nothing: only the datagrams it already sent matter.
        if (index % 4 === 3) session.destroy();
        else setTimeout(() => session.destroy(), 50);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Loopback drops datagrams when the server's socket buffer is full (under load): wait
    // until the server has taken everything that arrived, then check it answered most.
    await quiescent(() => {
      const { counters } = w.server.transport.stats();
      return counters.helloVerifyRequests + counters.refusedHalfOpen + counters.dropped;
    });
    const answered = w.server.transport.stats().counters.helloVerifyRequests;
    assert.ok(answered >= 500, `HelloVerifyRequests for ${answered} of 1000 hellos`);
    await waitFor('the keeper to go on', () => w.keeper.answered() > before + 10);
    assert.ok(w.peaks.halfOpen <= HALF_OPEN_LIMIT, `half-open peaked at ${w.peaks.halfOpen}`);
    assert.ok(w.peaks.sessions <= 1, 'no session was established by the flood');
    // Each half-open PSK session holds well under 48 KiB of module heap.
    const grown = w.peaks.heap - baseline;
    assert.ok(grown <= HALF_OPEN_LIMIT * 48 * 1024, `heap grew by ${grown} bytes`);
    // The half-open sessions time out (their handshake retransmissions run out).
    await waitFor('half-open sessions to time out', () => w.server.transport.stats().halfOpen === 0, 10_000);
    assert.is(serverModule.heap().inUse, baseline, 'heap back to where it was');
    assert.equal(w.keeper.failures, [], 'the established session answered throughout');
    assert.is(w.server.transport.stats().sessions, 1);
  } finally {
    for (const socket of sockets) socket.close();
    context.close();
    await w.close();
  }
});

test('soak: 3 rounds of 200 PSK clients on their own sockets, used and dropped without close_notify; none refused, heap back to baseline after idle eviction', async () => {
  const idleTimeoutMs = 1500;
  const w = await world(idleTimeoutMs);
  // The keeper's session stays: it asks every 20 ms.
  const baseline = serverModule.heap().inUse;
  const refused: string[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      for (let batch = 0; batch < 4; batch++) {
        const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => createDtlsEndpoint({
          role: 'client', mode: 'psk', psk: { identity: `node:${round}-${batch}-${i}`, key: KEY }, host: LOOPBACK, port: 0, ...FAST,
        })));
        await Promise.all(clients.map(async (client, i) => {
          try {
            const response = await client.request({ uri: w.uri, timeoutMs: 10_000 });
            if (response.payload.toString() !== `hello node:${round}-${batch}-${i}`) refused.push(`wrong answer ${response.payload.toString()}`);
          } catch (error) {
            refused.push(`${(error as { code?: string }).code ?? ''} ${(error as Error).message}`);
          }
        }));
        // Vanish as a crashed node would: no close_notify.
        await Promise.all(clients.map((client) => client.transport.close({ closeNotify: false }).then(() => client.close())));
      }
      assert.equal(refused, [], `round ${round}: every PSK client was served`);
    }
    assert.ok(w.peaks.sessions <= SESSION_LIMIT);
    assert.ok(w.peaks.halfOpen <= HALF_OPEN_LIMIT);
    await waitFor('idle eviction of the dead sessions', () => w.server.transport.stats().sessions === 1, idleTimeoutMs * 4 + 5000);
    await waitFor('the heap to come back', () => serverModule.heap().inUse === baseline, 2000);
    assert.is(serverModule.heapCheck(), 0);
    assert.equal(w.keeper.failures, [], 'the established session answered throughout');
    const { counters } = w.server.transport.stats();
    // A few went earlier: a new client on a recycled port replaced them (RFC 6347 §4.2.8).
    assert.ok(counters.evictedIdle >= 500, `evicted ${counters.evictedIdle}`);
  } finally {
    await w.close();
  }
});

test.run();
