// The counting proxies of the CoAP-vs-MQTT benchmark (bench/macro/mqtt-counting-proxy.ts):
// real sockets on loopback, echo servers behind them, exact byte and packet counts per
// direction; and the header estimate's arithmetic.

import { createSocket, type Socket } from 'node:dgram';
import { createConnection, createServer, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addCounts, countsBetween, headerEstimate, startTcpCountingProxy, startUdpCountingProxy, TCP_IPV4_HEADER_BYTES, UDP_IPV4_HEADER_BYTES, type WireCounts,
} from '../../../bench/macro/mqtt-counting-proxy.js';
import { waitFor } from '../../helpers/wait.js';

async function udpEcho(): Promise<Socket> {
  const server = createSocket('udp4');
  server.on('message', (datagram, from) => server.send(datagram, from.port, from.address));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  return server;
}

async function udpClient(): Promise<{ readonly socket: Socket; readonly received: number[] }> {
  const socket = createSocket('udp4');
  const received: number[] = [];
  socket.on('message', (datagram) => received.push(datagram.length));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, received };
}

const close = (socket: Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

test('UDP: each datagram\'s payload is counted once per direction, and each client is a peer of its own', async () => {
  const echo = await udpEcho();
  const proxy = await startUdpCountingProxy(echo.address().port);
  const first = await udpClient();
  const second = await udpClient();
  try {
    for (const size of [10, 20, 30]) first.socket.send(Buffer.alloc(size), proxy.port, '127.0.0.1');
    second.socket.send(Buffer.alloc(100), proxy.port, '127.0.0.1');
    await waitFor('the echoes', () => first.received.length === 3 && second.received.length === 1);
    assert.equal([...first.received].sort((a, b) => a - b), [10, 20, 30]);
    assert.equal(proxy.counts(), { bytesUp: 160, bytesDown: 160, packetsUp: 4, packetsDown: 4, connections: 2 });
  } finally {
    await close(first.socket);
    await close(second.socket);
    await proxy.close();
    await close(echo);
  }
});

test('TCP: the stream\'s bytes are counted per direction and each accepted connection once; close ends the piped pairs', async () => {
  const echo: Server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const port = (echo.address() as { port: number }).port;
  const proxy = await startTcpCountingProxy(port);
  const client = createConnection({ host: '127.0.0.1', port: proxy.port });
  let echoed = 0;
  client.on('data', (chunk: Buffer) => {
    echoed += chunk.length;
  });
  try {
    client.write(Buffer.alloc(5000, 1));
    await waitFor('the echo', () => echoed === 5000);
    const counts = proxy.counts();
    assert.is(counts.bytesUp, 5000);
    assert.is(counts.bytesDown, 5000);
    assert.is(counts.connections, 1);
    assert.ok(counts.packetsUp >= 1 && counts.packetsDown >= 1);
  } finally {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await proxy.close();
    // The proxy's close ends the client's connection too: nothing is left open.
    await closed;
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  }
});

const counts = (fields: Partial<WireCounts>): WireCounts => ({ bytesUp: 0, bytesDown: 0, packetsUp: 0, packetsDown: 0, connections: 0, ...fields });

test('headers: 28 bytes per UDP datagram either way', () => {
  assert.is(headerEstimate(counts({ bytesUp: 500, packetsUp: 3, packetsDown: 2 }), 'udp'), 5 * UDP_IPV4_HEADER_BYTES);
});

test('headers: TCP data segments of 1448 bytes (at least one per read), an ACK per two the other way, 7 per connection', () => {
  // Up: 2,897 bytes in one read → 3 segments (2 ACKs back); down: 10 bytes in 2 reads → 2 segments (1 ACK).
  const estimate = headerEstimate(counts({ bytesUp: 2897, packetsUp: 1, bytesDown: 10, packetsDown: 2, connections: 1 }), 'tcp');
  assert.is(estimate, (3 + 2 + 2 + 1 + 7) * TCP_IPV4_HEADER_BYTES);
});

test('a window is the difference of two readings, several proxies the sum', () => {
  const earlier = counts({ bytesUp: 10, bytesDown: 20, packetsUp: 1, packetsDown: 2, connections: 1 });
  const later = counts({ bytesUp: 15, bytesDown: 50, packetsUp: 2, packetsDown: 5, connections: 1 });
  assert.equal(countsBetween(earlier, later), counts({ bytesUp: 5, bytesDown: 30, packetsUp: 1, packetsDown: 3 }));
  assert.equal(addCounts(earlier, later), counts({ bytesUp: 25, bytesDown: 70, packetsUp: 3, packetsDown: 7, connections: 2 }));
});

test.run();
