// The DTLS transport under our own endpoints on loopback sockets: PSK and certificate
// sessions with the identity in the request handler, typed handshake errors for the
// requester while the server keeps serving, queued sends during a handshake, connection ID
// migration (RFC 9146), close_notify both ways, idle timeout, the session and half-open
// bounds, reconnection from the same port, and no timer left after close().

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { createDtlsEndpoint, DtlsEndpoint, type DtlsEndpointOptions } from '../../../src/dtls/dtls-endpoint.js';
import { DtlsError } from '../../../src/dtls/errors.js';
import { DtlsTransport } from '../../../src/dtls/transport-dtls.js';
import { DtlsContext } from '../../../src/dtls/context.js';
import { DtlsModule } from '../../../src/dtls/wasm-module.js';
import { ensureWasm } from '../../helpers/wasm.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { Clock, DatagramHandler, Logger, PeerAddress, TimerHandle, Transport } from '../../../src/protocol/interfaces.js';
import { systemClock } from '../../../src/protocol/runtime.js';
import { UdpTransport } from '../../../src/protocol/transport-udp.js';
import { makePki } from './dtls-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

await ensureWasm();
const pki = makePki();
const LOOPBACK = '127.0.0.1';
const KEYS = new Map([['node:1', Buffer.from('secret-one')], ['node:2', Buffer.from('secret-two')]]);
const lookupKey = (identity: string): Buffer | undefined => KEYS.get(identity);
/** Short retransmissions so a lost handshake fails fast in tests. */
const FAST = { handshakeTimeout: { initialMs: 200, maxMs: 800 } } as const;
const QUICK_REQUEST = { timeoutMs: 5000 } as const;

/** A logger that remembers warnings and errors, so a test can say there were none. */
function recordingLogger(): Logger & { readonly problems: string[] } {
  const problems: string[] = [];
  const record = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    problems.push(`${level}: ${message ?? ''} ${JSON.stringify(objectOrMessage)}`);
  };
  return { debug: () => {}, info: () => {}, warn: record('warn'), error: record('error'), problems };
}

/** The system clock, counting the timers it has running. */
function countingClock(): Clock & { readonly live: () => number } {
  const live = new Set<TimerHandle>();
  return {
    now: () => systemClock.now(),
    setTimeout: (callback, delayMs) => {
      const handle: TimerHandle = systemClock.setTimeout(() => {
        live.delete(handle);
        callback();
      }, delayMs);
      live.add(handle);
      return handle;
    },
    clearTimeout: (handle) => {
      live.delete(handle);
      systemClock.clearTimeout(handle);
    },
    live: () => live.size,
  };
}

async function pskServer(options: Partial<DtlsEndpointOptions> = {}): Promise<DtlsEndpoint> {
  const server = await createDtlsEndpoint({ role: 'server', mode: 'psk', pskLookup: lookupKey, host: LOOPBACK, port: 0, ...FAST, ...options });
  server.router.add('/who', {
    handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `hello ${request.peer.identity ?? 'nobody'}` }) },
  });
  return server;
}

function pskClient(identity: string, key: Buffer | string, options: Partial<DtlsEndpointOptions> = {}): Promise<DtlsEndpoint> {
  return createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key: Buffer.from(key) }, host: LOOPBACK, port: 0, ...FAST, ...options });
}

async function bindRaw(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, () => resolve()));
  return socket;
}

const uriOf = (server: DtlsEndpoint, path: string): string => `coaps://${LOOPBACK}:${server.address().port}${path}`;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

test('PSK: our client endpoint gets an answer from our server endpoint, which sees the PSK identity', async () => {
  const logger = recordingLogger();
  const server = await pskServer({ logger });
  const client = await pskClient('node:1', 'secret-one', { logger });
  try {
    const response = await client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(response.code, ResponseCode.Content);
    assert.is(response.payload.toString(), 'hello node:1');
    assert.is(server.transport.stats().sessions, 1);
    assert.is(server.transport.stats().counters.helloVerifyRequests, 1, 'one cookie exchange');
    assert.is(client.transport.identityOf({ address: LOOPBACK, port: server.address().port }), 'node:1');
  } finally {
    await client.close();
    await server.close();
  }
  assert.equal(logger.problems, []);
});

test('certificates: mutual authentication, the handler sees the client certificate subject', async () => {
  const server = await createDtlsEndpoint({
    role: 'server', mode: 'certificate', certificates: { ca: pki.ca, ...pki.server }, host: LOOPBACK, port: 0, ...FAST,
  });
  server.router.add('/who', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: request.peer.identity ?? '' }) } });
  const client = await createDtlsEndpoint({
    role: 'client', mode: 'certificate', certificates: { ca: pki.ca, ...pki.client }, serverName: 'gateway', host: LOOPBACK, port: 0, ...FAST,
  });
  try {
    const response = await client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(response.payload.toString(), 'O=coap-fleet, CN=node:7');
    assert.is(client.transport.identityOf({ address: LOOPBACK, port: server.address().port }), 'CN=gateway', 'the client sees the server certificate subject');
  } finally {
    await client.close();
    await server.close();
  }
});

test('wrong PSK and unknown identity: the request fails with the typed error, the server keeps serving', async () => {
  const server = await pskServer();
  const wrong = await pskClient('node:1', 'not-the-key');
  const unknown = await pskClient('stranger', 'secret-one');
  const good = await pskClient('node:2', 'secret-two');
  try {
    const started = Date.now();
    const badKey = await rejection(wrong.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST }));
    assert.instance(badKey, DtlsError);
    assert.is((badKey as DtlsError).code, 'DTLS_ERR_BAD_PSK');
    assert.ok(Date.now() - started < 2000, 'failed at the handshake, not by a request timeout');
    const noIdentity = await rejection(unknown.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST }));
    assert.is((noIdentity as DtlsError).code, 'DTLS_ERR_UNKNOWN_PSK_IDENTITY');
    const response = await good.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(response.payload.toString(), 'hello node:2');
    const stats = server.transport.stats();
    assert.is(stats.counters.handshakeFailures, 2);
    assert.is(stats.sessions, 1);
    assert.is(stats.halfOpen, 0);
  } finally {
    for (const endpoint of [wrong, unknown, good, server]) await endpoint.close();
  }
});

test('untrusted certificates either way: typed errors, and a trusted client is served after them', async () => {
  const server = await createDtlsEndpoint({ role: 'server', mode: 'certificate', certificates: { ca: pki.ca, ...pki.server }, host: LOOPBACK, port: 0, ...FAST });
  server.router.add('/who', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: request.peer.identity ?? '' }) } });
  const rogue = await createDtlsEndpoint({ role: 'client', mode: 'certificate', certificates: { ca: pki.ca, ...pki.rogue }, host: LOOPBACK, port: 0, ...FAST });
  const distrustful = await createDtlsEndpoint({ role: 'client', mode: 'certificate', certificates: { ca: pki.otherCa, ...pki.client }, host: LOOPBACK, port: 0, ...FAST });
  const trusted = await createDtlsEndpoint({ role: 'client', mode: 'certificate', certificates: { ca: pki.ca, ...pki.client }, host: LOOPBACK, port: 0, ...FAST });
  try {
    const rejected = await rejection(rogue.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST }));
    assert.instance(rejected, DtlsError);
    assert.ok(['DTLS_ERR_CERT_UNTRUSTED', 'DTLS_ERR_CERT_INVALID'].includes((rejected as DtlsError).code), (rejected as DtlsError).code);
    const untrusted = await rejection(distrustful.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST }));
    assert.is((untrusted as DtlsError).code, 'DTLS_ERR_CERT_UNTRUSTED');
    const response = await trusted.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(response.payload.toString(), 'O=coap-fleet, CN=node:7');
    assert.is(server.transport.stats().counters.handshakeFailures, 2);
  } finally {
    for (const endpoint of [rogue, distrustful, trusted, server]) await endpoint.close();
  }
});

test('requests sent during the handshake wait for it and all get answers', async () => {
  const server = await pskServer();
  const client = await pskClient('node:1', 'secret-one');
  try {
    const responses = await Promise.all(Array.from({ length: 5 }, () => client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST })));
    assert.equal(responses.map((response) => response.payload.toString()), Array(5).fill('hello node:1'));
    assert.is(client.transport.stats().counters.handshakes, 1, 'one handshake for all of them');
  } finally {
    await client.close();
    await server.close();
  }
});

/** A carrier whose socket can be replaced: the client "moves" to a new port. */
class MovableCarrier implements Transport {
  readonly scheme = 'coap' as const;
  #current: UdpTransport;
  #handler: DatagramHandler = () => {};
  private constructor(current: UdpTransport) {
    this.#current = current;
    current.onDatagram((data, peer) => this.#handler(data, peer));
  }
  static async bind(): Promise<MovableCarrier> {
    return new MovableCarrier(await UdpTransport.bind({ host: LOOPBACK, port: 0 }));
  }
  async move(): Promise<void> {
    const old = this.#current;
    this.#current = await UdpTransport.bind({ host: LOOPBACK, port: 0 });
    this.#current.onDatagram((data, peer) => this.#handler(data, peer));
    await old.close();
  }
  address(): PeerAddress { return this.#current.address(); }
  send(data: Buffer, peer: PeerAddress): void { this.#current.send(data, peer); }
  onDatagram(handler: DatagramHandler): void { this.#handler = handler; }
  close(): Promise<void> { return this.#current.close(); }
}

test('connection ID: a client that moves to a new port keeps its session (RFC 9146)', async () => {
  const server = await pskServer();
  server.router.add('/from', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `${request.peer.port} ${request.peer.identity}` }) } });
  const carrier = await MovableCarrier.bind();
  const client = new DtlsEndpoint(await DtlsTransport.over(carrier, { role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEYS.get('node:1')! }, ...FAST }));
  try {
    const before = carrier.address().port;
    const first = await client.request({ uri: uriOf(server, '/from'), ...QUICK_REQUEST });
    assert.is(first.payload.toString(), `${before} node:1`);
    await carrier.move();
    const after = carrier.address().port;
    assert.is.not(after, before);
    const second = await client.request({ uri: uriOf(server, '/from'), ...QUICK_REQUEST });
    assert.is(second.payload.toString(), `${after} node:1`, 'the server answered at the new address');
    const stats = server.transport.stats();
    assert.is(stats.counters.handshakes, 1, 'no new handshake');
    assert.is(stats.counters.migrations, 1);
    assert.is(stats.sessions, 1);
  } finally {
    await client.close();
    await server.close();
  }
});

test('a replayed or forged CID record from another address neither moves nor harms the session', async () => {
  const server = await pskServer();
  const target = server.address().port;
  // A raw client session, so its exact records can be replayed and tampered with.
  const context = new DtlsContext(await DtlsModule.shared(), {
    role: 'client', mode: 'psk', psk: { identity: 'node:2', key: KEYS.get('node:2')! }, connectionIdLength: 0,
  });
  const socket = await bindRaw();
  const attacker = await bindRaw();
  const sent: Buffer[] = [];
  const answers: string[] = [];
  const session = context.connect({ onSend: (datagram) => { sent.push(datagram); socket.send(datagram, target, LOOPBACK); } });
  socket.on('message', (data) => answers.push(...session.receive(data).app.map((record) => record.subarray(4).toString('latin1'))));
  // A CoAP NON GET /who with message ID `id` (RFC 7252 §3): the answer is a NON 2.05.
  const get = (id: number): Buffer => Buffer.from([0x50, 0x01, id >> 8, id & 0xff, 0xb3, 0x77, 0x68, 0x6f]);
  try {
    await waitFor('the raw session', () => session.state === 'established');
    sent.length = 0;
    session.send(get(1));
    const record = sent[0]!;
    assert.is(record[0], 25, 'a tls12_cid record');
    await waitFor('the first answer', () => answers.length === 1);
    const flipped = Buffer.from(record);
    flipped[flipped.length - 1]! ^= 0x01;
    const forgedCid = Buffer.from(record);
    forgedCid[11]! ^= 0xff;
    const dropped = server.transport.stats().counters.dropped;
    // Then one byte of garbage the listener drops: datagrams from one socket arrive in
    // order on loopback, so once it is counted the server has handled the three before it.
    for (const datagram of [record, flipped, forgedCid, Buffer.from([0])]) attacker.send(datagram, target, LOOPBACK);
    await waitFor('the forged CID and the garbage marker dropped', () => server.transport.stats().counters.dropped === dropped + 2);
    assert.is(server.transport.stats().counters.migrations, 0, 'no replay or forgery moved the session');
    assert.is(answers.length, 1, 'none of them was answered');
    session.send(get(2));
    await waitFor('the session still answers at its own address', () => answers.length === 2);
    assert.ok(answers.every((answer) => answer.endsWith('hello node:2')), answers.join());
    assert.is(server.transport.stats().sessions, 1);
  } finally {
    session.destroy();
    context.close();
    socket.close();
    attacker.close();
    await server.close();
  }
});

test('close() sends close_notify: the server forgets the session at once, and the client its own on the server\'s close', async () => {
  const server = await pskServer();
  const first = await pskClient('node:1', 'secret-one');
  const second = await pskClient('node:2', 'secret-two');
  try {
    await first.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    await second.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(server.transport.stats().sessions, 2);
    await first.close();
    await waitFor('the server to drop the closed session', () => server.transport.stats().sessions === 1);
    assert.is(server.transport.stats().counters.closedByPeer, 1);
    await server.close();
    await waitFor('the client to drop its session', () => second.transport.stats().sessions === 0);
    assert.is(second.transport.stats().counters.closedByPeer, 1);
  } finally {
    await first.close();
    await second.close();
    await server.close();
  }
});

test('idle sessions are closed after the idle timeout and the module heap returns to its baseline', async () => {
  const module = await DtlsModule.load();
  const server = await pskServer({ module, limits: { idleTimeoutMs: 150 } });
  const baseline = module.heap().inUse;
  const clients = await Promise.all(['node:1', 'node:2'].map((identity) => pskClient(identity, KEYS.get(identity)!)));
  try {
    for (const client of clients) await client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(server.transport.stats().sessions, 2);
    assert.ok(module.heap().inUse > baseline);
    await waitFor('idle eviction', () => server.transport.stats().sessions === 0, 3000);
    assert.is(server.transport.stats().counters.evictedIdle, 2);
    assert.is(module.heap().inUse, baseline, 'heap back to baseline');
    // The clients got close_notify: their next request handshakes anew and is answered.
    await waitFor('clients saw close_notify', () => clients.every((client) => client.transport.stats().sessions === 0));
    const again = await clients[0]!.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(again.payload.toString(), 'hello node:1');
  } finally {
    for (const client of clients) await client.close();
    await server.close();
  }
});

test('the session bound closes the least recently active session; its client handshakes again on its next request', async () => {
  const server = await pskServer({ limits: { sessions: 2 } });
  const clients = await Promise.all([0, 1, 2].map(() => pskClient('node:1', 'secret-one')));
  try {
    for (const client of clients) await client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    const stats = server.transport.stats();
    assert.is(stats.sessions, 2);
    assert.is(stats.counters.evictedForCapacity, 1);
    await waitFor('the evicted client saw close_notify', () => clients[0]!.transport.stats().sessions === 0);
    const response = await clients[0]!.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    assert.is(response.payload.toString(), 'hello node:1');
    assert.is(server.transport.stats().sessions, 2);
  } finally {
    for (const client of clients) await client.close();
    await server.close();
  }
});

test('the half-open bound: cookie-passing peers that vanish hold at most the bound; a real client gets in once their grace is over', async () => {
  // The server's handshakes would time out only after the test: the grace alone frees slots.
  const server = await pskServer({ limits: { halfOpen: 4, halfOpenGraceMs: 1000 }, handshakeTimeout: { initialMs: 10_000, maxMs: 10_000 } });
  // Slow retransmissions: the vanishing peers never retry within the test.
  const context = new DtlsContext(await DtlsModule.shared(), {
    role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEYS.get('node:1')! }, handshakeTimeout: { initialMs: 10_000, maxMs: 10_000 },
  });
  const sockets: Socket[] = [];
  const target = server.address().port;
  try {
    for (let i = 0; i < 10; i++) {
      const socket = await bindRaw();
      sockets.push(socket);
      // The client answers the HelloVerifyRequest (its second ClientHello carries the
      // cookie), then stops: the server is left waiting for the client's next flight.
      let answered = 0;
      const session = context.connect({ onSend: (datagram) => socket.send(datagram, target, LOOPBACK) });
      socket.on('message', (data) => {
        if (answered++ === 0) session.receive(data);
      });
    }
    await waitFor('ten cookie exchanges', () => server.transport.stats().counters.helloVerifyRequests === 10);
    await waitFor('six refused', () => server.transport.stats().counters.refusedHalfOpen === 6);
    assert.is(server.transport.stats().halfOpen, 4);
    assert.is(server.transport.stats().counters.evictedHalfOpen, 0, 'young handshakes are not displaced');
    // Its ClientHello is refused until the grace is over; a retransmission then gets in.
    const good = await pskClient('node:2', 'secret-two', { handshakeTimeout: { initialMs: 200, maxMs: 3200 } });
    try {
      const response = await good.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
      assert.is(response.payload.toString(), 'hello node:2', 'a real client gets in');
      assert.ok(server.transport.stats().counters.evictedHalfOpen >= 1, 'by displacing a stale handshake');
      assert.ok(server.transport.stats().halfOpen <= 4);
    } finally {
      await good.close();
    }
  } finally {
    for (const socket of sockets) socket.close();
    context.close();
    await server.close();
  }
});

test('a client that restarts on the same port without close_notify is served by a new session', async () => {
  const server = await pskServer();
  const first = await pskClient('node:1', 'secret-one');
  const port = first.address().port;
  try {
    await first.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    await first.transport.close({ closeNotify: false });
    const second = await pskClient('node:2', 'secret-two', { port });
    try {
      const response = await second.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
      assert.is(response.payload.toString(), 'hello node:2');
      assert.is(server.transport.stats().sessions, 1);
    } finally {
      await second.close();
    }
  } finally {
    await first.close();
    await server.close();
  }
});

test('a client restarting mid-handshake on the same port is not stuck behind its old half-open session', async () => {
  const server = await pskServer();
  const socket = await bindRaw();
  const port = socket.address().port;
  const target = server.address().port;
  const context = new DtlsContext(await DtlsModule.shared(), { role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEYS.get('node:1')! } });
  try {
    let answered = 0;
    const session = context.connect({ onSend: (datagram) => socket.send(datagram, target, LOOPBACK) });
    socket.on('message', (data) => { if (answered++ === 0) session.receive(data); });
    await waitFor('a half-open session', () => server.transport.stats().halfOpen === 1);
    session.destroy();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    const client = await pskClient('node:2', 'secret-two', { port });
    try {
      const response = await client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
      assert.is(response.payload.toString(), 'hello node:2');
      assert.is(server.transport.stats().halfOpen, 0);
    } finally {
      await client.close();
    }
  } finally {
    context.close();
    await server.close();
  }
});

test('a server that restarts and lost our session: the request that times out drops it, the next one handshakes anew', async () => {
  const first = await pskServer();
  const port = first.address().port;
  const client = await pskClient('node:1', 'secret-one');
  let second: DtlsEndpoint | undefined;
  try {
    await client.request({ uri: uriOf(first, '/who'), ...QUICK_REQUEST });
    await first.transport.close({ closeNotify: false }); // a crash: no close_notify
    await first.close();
    second = await pskServer({ port });
    const lost = await rejection(client.request({ uri: `coaps://${LOOPBACK}:${port}/who`, timeoutMs: 400 }));
    assert.is((lost as { code?: string }).code, 'COAP_ERR_TIMEOUT', 'the new server drops records of a session it never had');
    assert.is(client.transport.stats().sessions, 0, 'the timeout dropped the session');
    const response = await client.request({ uri: `coaps://${LOOPBACK}:${port}/who`, ...QUICK_REQUEST });
    assert.is(response.payload.toString(), 'hello node:1');
    assert.is(client.transport.stats().counters.handshakes, 2);
  } finally {
    await client.close();
    await first.close();
    await second?.close();
  }
});

test('close() leaves no timer behind, on either side, mid-handshake too', async () => {
  const serverClock = countingClock();
  const clientClock = countingClock();
  const server = await pskServer({ clock: serverClock });
  const client = await pskClient('node:1', 'secret-one', { clock: clientClock });
  const silent = await bindRaw();
  try {
    await client.request({ uri: uriOf(server, '/who'), ...QUICK_REQUEST });
    // A handshake to a peer that never answers: its retransmission timer runs.
    void client.request({ uri: `coaps://${LOOPBACK}:${silent.address().port}/x`, ...QUICK_REQUEST }).catch(() => {});
    await waitFor('a handshake in progress', () => client.transport.stats().halfOpen === 1);
    assert.ok(clientClock.live() > 0);
  } finally {
    await client.close();
    await server.close();
    silent.close();
  }
  assert.is(serverClock.live(), 0, 'no server timer');
  assert.is(clientClock.live(), 0, 'no client timer');
});

test('a handshake to a silent peer fails with a timeout error and drops the queued datagrams with a warning', async () => {
  const logger = recordingLogger();
  const silent = await bindRaw();
  const client = await pskClient('node:1', 'secret-one', { logger, handshakeTimeout: { initialMs: 50, maxMs: 100 } });
  try {
    const error = await rejection(client.request({ uri: `coaps://${LOOPBACK}:${silent.address().port}/x`, ...QUICK_REQUEST }));
    assert.is((error as DtlsError).code, 'DTLS_ERR_HANDSHAKE_TIMEOUT');
    assert.is(logger.problems.length, 1);
    assert.match(logger.problems[0]!, /queued datagrams dropped/);
  } finally {
    await client.close();
    silent.close();
  }
});

test.after(() => pki.remove());

test.run();
