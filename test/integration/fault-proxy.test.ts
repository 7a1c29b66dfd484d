// The fault-injecting UDP proxy on loopback: CoAP over a lossy, duplicating path still
// delivers each request to the handler exactly once; client mappings are bounded and
// expire; close leaves nothing running.

import { createSocket, type Socket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFaultProxy, type FaultProxy } from '../../src/testing/fault-proxy.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';

const LOOPBACK = '127.0.0.1';

async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  return socket;
}

const closeSocket = (socket: Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

/** The next datagram on a socket, or an error after `ms`. */
function nextDatagram(socket: Socket, ms = 2_000): Promise<{ data: Buffer; port: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`no datagram within ${ms} ms`));
    }, ms);
    const onMessage = (data: Buffer, info: { port: number }): void => {
      clearTimeout(timer);
      resolve({ data, port: info.port });
    };
    socket.once('message', onMessage);
  });
}

/** A UDP echo server: the target for tests of the proxy itself. */
async function echoServer(): Promise<Socket> {
  const socket = await udpSocket();
  socket.on('message', (data, info) => socket.send(data, info.port, info.address));
  return socket;
}

test('30 sequential CON requests through 30% loss and 20% duplication all complete, each handled once', async () => {
  const server = await Endpoint.udp({ host: LOOPBACK, port: 0 });
  const handled = new Map<string, number>();
  server.router.add('/count', {
    handlers: {
      POST: (request) => {
        const key = request.payload.toString();
        handled.set(key, (handled.get(key) ?? 0) + 1);
        return { code: ResponseCode.Changed, payload: `ok ${key}` };
      },
    },
  });
  const proxy = await startFaultProxy({
    listen: { host: LOOPBACK, port: 0 },
    target: { host: LOOPBACK, port: server.address().port },
    faults: { loss: 0.3, duplication: 0.2 },
    // The fault pattern follows the seed: a failure replays with the same drops.
    seed: 1,
  });
  // With 30% loss each way an attempt succeeds about half the time, so the default
  // MAX_RETRANSMIT of 4 would leave about 1 request in 40 unanswered (0.48^5); 8 makes
  // "all 30 complete" a statement about the stack, not about luck. Loopback answers in
  // well under a millisecond, so a 50 ms ACK_TIMEOUT keeps the exponential backoff of
  // the unlucky requests within seconds.
  const client = await Endpoint.udp({ host: LOOPBACK, port: 0 }, { parameters: { ackTimeout: 50, maxRetransmit: 8 } });
  const started = Date.now();
  try {
    const uri = `coap://${LOOPBACK}:${proxy.address().port}/count`;
    for (let i = 0; i < 30; i++) {
      const response = await client.request({ uri, method: Method.POST, payload: String(i), timeoutMs: 60_000 });
      assert.is(response.code, ResponseCode.Changed);
      assert.is(response.payload.toString(), `ok ${i}`);
    }
    assert.is(handled.size, 30);
    for (const [key, count] of handled) assert.is(count, 1, `request ${key} handled ${count} times`);
    const stats = proxy.stats();
    assert.ok(stats.toTarget.dropped + stats.toClient.dropped > 0, `drops: ${JSON.stringify(stats)}`);
    assert.ok(stats.toTarget.duplicated + stats.toClient.duplicated > 0, `duplicates: ${JSON.stringify(stats)}`);
    assert.ok(stats.toTarget.duplicated > 0, 'some requests reached the server twice: dedup was exercised');
    for (const direction of [stats.toTarget, stats.toClient]) {
      assert.is(direction.received, direction.forwarded + direction.dropped);
    }
    assert.is(stats.clients, 1);
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
});

test('without faults every datagram passes once each way, and the target sees one peer per client', async () => {
  const echo = await echoServer();
  const seen = new Set<number>();
  echo.on('message', (_data, info) => seen.add(info.port));
  const proxy = await startFaultProxy({
    listen: { host: LOOPBACK, port: 0 }, target: { host: LOOPBACK, port: echo.address().port }, faults: {}, seed: 1,
  });
  const clients = [await udpSocket(), await udpSocket()];
  try {
    for (const [index, client] of clients.entries()) {
      for (let i = 0; i < 3; i++) {
        const reply = nextDatagram(client);
        client.send(`c${index} ${i}`, proxy.address().port, LOOPBACK);
        const { data, port } = await reply;
        assert.is(data.toString(), `c${index} ${i}`);
        assert.is(port, proxy.address().port, 'replies come from the proxy');
      }
    }
    assert.is(seen.size, 2);
    assert.equal(proxy.stats().toTarget, { received: 6, forwarded: 6, dropped: 0, duplicated: 0 });
    assert.equal(proxy.stats().toClient, { received: 6, forwarded: 6, dropped: 0, duplicated: 0 });
  } finally {
    await Promise.all(clients.map(closeSocket));
    await proxy.close();
    await closeSocket(echo);
  }
});

test('client mappings are bounded: a new client evicts the least recently active one', async () => {
  const echo = await echoServer();
  let proxy: FaultProxy | undefined;
  const clients = [await udpSocket(), await udpSocket(), await udpSocket()];
  try {
    proxy = await startFaultProxy({
      listen: { host: LOOPBACK, port: 0 }, target: { host: LOOPBACK, port: echo.address().port }, faults: {}, seed: 1, maxClients: 2,
    });
    const port = proxy.address().port;
    const roundTrip = async (client: Socket, text: string): Promise<void> => {
      const reply = nextDatagram(client);
      client.send(text, port, LOOPBACK);
      assert.is((await reply).data.toString(), text);
    };
    await roundTrip(clients[0]!, 'a');
    await roundTrip(clients[1]!, 'b');
    await roundTrip(clients[0]!, 'a again'); // client 1 is now the least recently active
    await roundTrip(clients[2]!, 'c');
    assert.is(proxy.stats().clients, 2);
    assert.is(proxy.stats().evicted, 1);
    await roundTrip(clients[0]!, 'a kept its mapping');
    assert.is(proxy.stats().evicted, 1);
    await roundTrip(clients[1]!, 'b gets a new mapping');
    assert.is(proxy.stats().evicted, 2);
  } finally {
    await Promise.all(clients.map(closeSocket));
    await proxy?.close();
    await closeSocket(echo);
  }
});

test('an idle client mapping is closed after the idle timeout', async () => {
  const echo = await echoServer();
  const proxy = await startFaultProxy({
    listen: { host: LOOPBACK, port: 0 }, target: { host: LOOPBACK, port: echo.address().port }, faults: {}, seed: 1, idleTimeoutMs: 100,
  });
  const client = await udpSocket();
  try {
    const reply = nextDatagram(client);
    client.send('x', proxy.address().port, LOOPBACK);
    await reply;
    assert.is(proxy.stats().clients, 1);
    for (let waited = 0; waited < 2_000 && proxy.stats().clients > 0; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.is(proxy.stats().clients, 0);
    assert.is(proxy.stats().expired, 1);
  } finally {
    await closeSocket(client);
    await proxy.close();
    await closeSocket(echo);
  }
});

test('close drops datagrams still waiting for their delay and leaves no timer behind', async () => {
  const echo = await echoServer();
  const echoed: string[] = [];
  echo.on('message', (data) => { echoed.push(data.toString()); });
  const proxy = await startFaultProxy({
    listen: { host: LOOPBACK, port: 0 }, target: { host: LOOPBACK, port: echo.address().port }, faults: { delayMs: 300 }, seed: 1,
  });
  const client = await udpSocket();
  try {
    client.send('late', proxy.address().port, LOOPBACK);
    for (let waited = 0; waited < 2_000 && proxy.stats().toTarget.received === 0; waited += 10) await new Promise((r) => setTimeout(r, 10));
    assert.is(proxy.stats().toTarget.forwarded, 1);
    await proxy.close();
    assert.not.ok(process.getActiveResourcesInfo().includes('Timeout'), 'no timer left after close');
    // A marker straight to the echo server: had the proxy sent the delayed datagram, it
    // would be in the echo server's queue ahead of the marker, whose echo ends the wait.
    const marker = nextDatagram(client);
    client.send('marker', echo.address().port, LOOPBACK);
    await marker;
    assert.equal(echoed, ['marker'], 'the delayed datagram was not sent after close');
  } finally {
    await closeSocket(client);
    await closeSocket(echo);
  }
});

test.run();
