// The DTLS client's liveness probe (transport-dtls.ts `retransmitting`), on loopback with
// short CoAP timers: a CON whose first retransmissions go unanswered while the peer is
// silent ends the session, and the retransmission goes out over a new handshake, both
// against a restarted server that lost the session and against a live one that only lost
// datagrams (RFC 6347 §4.2.8: it replaces the association); and a NON left unanswered
// says nothing of the session.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint, DtlsEndpoint, type DtlsEndpointOptions } from '../../../src/dtls/dtls-endpoint.js';
import { DtlsTransport } from '../../../src/dtls/transport-dtls.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import type { DatagramHandler, PeerAddress, Transport } from '../../../src/protocol/interfaces.js';
import { UdpTransport } from '../../../src/protocol/transport-udp.js';
import { ensureWasm } from '../../helpers/wasm.js';

await ensureWasm();
const LOOPBACK = '127.0.0.1';
const KEY = Buffer.from('secret-one');
const FAST = { handshakeTimeout: { initialMs: 200, maxMs: 800 } } as const;
/** CoAP retransmissions after 100–150 ms, 200–300 ms…: the probe comes at the second. */
const SHORT_TIMERS = { parameters: { ackTimeout: 100 } } as const;

let served = 0;

async function pskServer(options: Partial<DtlsEndpointOptions> = {}): Promise<DtlsEndpoint> {
  const server = await createDtlsEndpoint({
    role: 'server', mode: 'psk', pskLookup: (identity) => (identity === 'node:1' ? KEY : undefined), host: LOOPBACK, port: 0, ...FAST, ...options,
  });
  server.router.add('/count', { handlers: { POST: () => ({ code: ResponseCode.Changed, payload: String(++served) }) } });
  return server;
}

/** A UDP carrier whose next `drop` outgoing datagrams are lost, and which, when told to,
 * keeps the whole process busy for `stallMs` just after its next datagram went out. */
class LossyCarrier implements Transport {
  readonly scheme = 'coap' as const;
  drop = 0;
  dropped = 0;
  stallMs = 0;
  constructor(readonly inner: UdpTransport) {}
  address(): PeerAddress { return this.inner.address(); }
  onDatagram(handler: DatagramHandler): void { this.inner.onDatagram(handler); }
  send(data: Buffer, peer: PeerAddress): void {
    if (this.drop > 0) {
      this.drop--;
      this.dropped++;
      return;
    }
    this.inner.send(data, peer);
    if (this.stallMs > 0) {
      const until = Date.now() + this.stallMs;
      this.stallMs = 0;
      // After this turn's I/O (the datagram is on its way), before the next turn's timers.
      setImmediate(() => { while (Date.now() < until); });
    }
  }
  close(): Promise<void> { return this.inner.close(); }
}

async function client(probeAfterRetransmissions?: number, timers: typeof SHORT_TIMERS | { parameters: { ackTimeout: number } } = SHORT_TIMERS): Promise<{ endpoint: DtlsEndpoint; carrier: LossyCarrier }> {
  const carrier = new LossyCarrier(await UdpTransport.bind({ host: LOOPBACK, port: 0 }));
  const transport = await DtlsTransport.over(carrier, {
    role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEY }, ...FAST,
    ...(probeAfterRetransmissions === undefined ? {} : { limits: { probeAfterRetransmissions } }),
  });
  return { endpoint: new DtlsEndpoint(transport, timers), carrier };
}

const post = (endpoint: DtlsEndpoint, port: number) =>
  endpoint.request({ uri: `coaps://${LOOPBACK}:${port}/count`, method: Method.POST, timeoutMs: 5000 });

test('a restarted server that lost the session: the second unanswered retransmission goes out over a new handshake and is answered', async () => {
  const first = await pskServer();
  const port = first.address().port;
  const { endpoint } = await client();
  let second: DtlsEndpoint | undefined;
  try {
    await post(endpoint, port);
    await first.transport.close({ closeNotify: false }); // a crash: no close_notify
    await first.close();
    second = await pskServer({ port });
    const before = served;
    const response = await post(endpoint, port);
    assert.is(response.code, ResponseCode.Changed);
    assert.is(served, before + 1, 'the handler ran once');
    const { counters } = endpoint.transport.stats();
    assert.is(counters.probes, 1);
    assert.is(counters.handshakes, 2);
  } finally {
    await endpoint.close();
    await first.close();
    await second?.close();
  }
});

test('a live server whose datagrams were lost: the probe\'s handshake replaces the session there and the request is answered once', async () => {
  const server = await pskServer();
  const port = server.address().port;
  const { endpoint, carrier } = await client();
  try {
    await post(endpoint, port);
    const gone: string[] = [];
    server.onPeerGone((peer) => gone.push(`${peer.address}:${peer.port}`));
    carrier.drop = 2; // the CON and its first retransmission
    const before = served;
    const response = await post(endpoint, port);
    assert.is(response.code, ResponseCode.Changed);
    assert.is(served, before + 1, 'the handler ran once');
    assert.is(carrier.dropped, 2);
    assert.is(endpoint.transport.stats().counters.probes, 1);
    assert.is(gone.length, 1, 'the server replaced the old association with the new one');
    assert.is(server.transport.stats().sessions, 1);
  } finally {
    await endpoint.close();
    await server.close();
  }
});

test('a reply waiting unread on the socket when the retransmission timer fires (the client\'s event loop was busy) counts: no probe', async () => {
  const serverCarrier = new LossyCarrier(await UdpTransport.bind({ host: LOOPBACK, port: 0 }));
  const server = new DtlsEndpoint(await DtlsTransport.over(serverCarrier, {
    role: 'server', mode: 'psk', pskLookup: (identity) => (identity === 'node:1' ? KEY : undefined), ...FAST,
  }));
  server.router.add('/count', { handlers: { POST: () => ({ code: ResponseCode.Changed }) } });
  // Retransmissions after 500-750 ms, then 1-1.5 s more: room for a loaded machine to
  // answer the first before the second is due.
  const { endpoint, carrier } = await client(undefined, { parameters: { ackTimeout: 500 } });
  try {
    await post(endpoint, server.address().port);
    // The CON is lost; its first retransmission is answered, and as the answer goes out
    // the process is kept busy past the next retransmission timeout: when the loop comes
    // back that timer is due, the answer waiting on the socket unread.
    carrier.drop = 1;
    serverCarrier.stallMs = 1800;
    const response = await post(endpoint, server.address().port);
    assert.is(response.code, ResponseCode.Changed);
    assert.is(carrier.dropped, 1);
    assert.is(endpoint.transport.stats().counters.probes, 0, 'the answer was read before the silence was judged');
    assert.is(endpoint.transport.stats().counters.handshakes, 1, 'the session kept');
  } finally {
    await endpoint.close();
    await server.close();
  }
});

test('a server that sent something just after the request and then died: the probe still comes (silence since the previous transmission, not since the first)', async () => {
  const first = await pskServer();
  const port = first.address().port;
  let notified = 0;
  first.router.add('/obs', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(notified) }) } });
  // The request makes the server send a notification, then the server dies without answering.
  first.router.add('/die', {
    handlers: {
      POST: () => new Promise(() => {
        notified++;
        first.notify('/obs');
        setImmediate(() => void first.transport.close({ closeNotify: false }));
      }),
    },
  });
  const { endpoint } = await client();
  let second: DtlsEndpoint | undefined;
  try {
    const { observation } = await endpoint.observe({ uri: `coaps://${LOOPBACK}:${port}/obs` });
    const notifications = observation[Symbol.asyncIterator]();
    const request = endpoint.request({ uri: `coaps://${LOOPBACK}:${port}/die`, method: Method.POST, timeoutMs: 5000 });
    await notifications.next(); // heard from the server after the request went out
    await first.close();
    second = await pskServer({ port });
    second.router.add('/die', { handlers: { POST: () => ({ code: ResponseCode.Changed }) } });
    const response = await request;
    assert.is(response.code, ResponseCode.Changed, 'answered by the restarted server over a new session');
    assert.is(endpoint.transport.stats().counters.probes, 1);
    observation.forget();
  } finally {
    await endpoint.close();
    await first.close();
    await second?.close();
  }
});

test('no probe when the first retransmission is answered, nor when probing is off', async () => {
  const server = await pskServer();
  const port = server.address().port;
  const quiet = await client(0);
  const { endpoint, carrier } = await client();
  try {
    // Probing off: the CON's retransmissions find the live server after two losses.
    await post(quiet.endpoint, port);
    quiet.carrier.drop = 2;
    assert.is((await post(quiet.endpoint, port)).code, ResponseCode.Changed);
    assert.is(quiet.endpoint.transport.stats().counters.probes, 0);
    assert.is(quiet.endpoint.transport.stats().counters.handshakes, 1);
    // One loss only: the first retransmission is answered before a probe is due.
    await post(endpoint, port);
    carrier.drop = 1;
    assert.is((await post(endpoint, port)).code, ResponseCode.Changed);
    assert.is(endpoint.transport.stats().counters.probes, 0);
  } finally {
    await quiet.endpoint.close();
    await endpoint.close();
    await server.close();
  }
});

test('a NON request left unanswered keeps the session (NONs may be lost); a CON that times out drops it', async () => {
  const server = await pskServer();
  server.router.add('/late', { handlers: { PUT: () => new Promise((resolve) => setTimeout(() => resolve({ code: ResponseCode.Changed }), 1000)) } });
  const { endpoint } = await client();
  try {
    const uri = `coaps://${LOOPBACK}:${server.address().port}/late`;
    await post(endpoint, server.address().port);
    const unanswered = await endpoint.request({ uri, method: Method.PUT, confirmable: false, timeoutMs: 200 }).catch((error: unknown) => error);
    assert.is((unanswered as { code?: string }).code, 'COAP_ERR_TIMEOUT');
    assert.is(endpoint.transport.stats().sessions, 1, 'the session stays');
    const timedOut = await endpoint.request({ uri, method: Method.PUT, timeoutMs: 200 }).catch((error: unknown) => error);
    assert.is((timedOut as { code?: string }).code, 'COAP_ERR_TIMEOUT');
    assert.is(endpoint.transport.stats().sessions, 0, 'a CON without an answer drops it');
  } finally {
    await endpoint.close();
    await server.close();
  }
});

test.run();
