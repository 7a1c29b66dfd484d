// Counting proxies for the CoAP-vs-MQTT comparison: every byte between the clients (agents)
// and a server (our gateway's DTLS port, the MQTT broker, the HTTPS image server) passes
// through one, on 127.0.0.1, and is counted at the socket level: UDP datagram payloads (the
// whole DTLS record, header and handshake included) and TCP stream payloads (TLS records,
// handshake included). IP, UDP and TCP headers are not in the byte counts; the packets
// counted here let `headerEstimate` add them.

import { createSocket, type Socket } from 'node:dgram';
import { createConnection, createServer, type Socket as TcpSocket } from 'node:net';

/** Bytes and packets per direction: `up` is client → server, `down` server → client. A
 * "packet" is a UDP datagram, or a TCP read (one or more segments). */
export interface WireCounts {
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly packetsUp: number;
  readonly packetsDown: number;
  /** UDP: client addresses seen; TCP: connections accepted. */
  readonly connections: number;
}

export interface CountingProxy {
  readonly protocol: 'udp' | 'tcp';
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  counts(): WireCounts;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
/** Clients a UDP proxy keeps a socket for; beyond it the oldest mapping goes. The bench has
 * five agents, so this is only a bound. */
const MAX_UDP_CLIENTS = 256;

interface Tally {
  bytesUp: number;
  bytesDown: number;
  packetsUp: number;
  packetsDown: number;
  connections: number;
}

const emptyTally = (): Tally => ({ bytesUp: 0, bytesDown: 0, packetsUp: 0, packetsDown: 0, connections: 0 });

/** A UDP proxy to 127.0.0.1:`targetPort`: one upstream socket per client, so the server
 * sees each client as a peer of its own (its DTLS sessions stay apart). */
export async function startUdpCountingProxy(targetPort: number): Promise<CountingProxy> {
  const tally = emptyTally();
  const listener = createSocket('udp4');
  /** Upstream sockets by client "address:port", oldest first; removed by eviction or close. */
  const upstreams = new Map<string, Socket>();
  const upstreamFor = (address: string, port: number): Socket => {
    const key = `${address}:${port}`;
    const existing = upstreams.get(key);
    if (existing !== undefined) return existing;
    if (upstreams.size >= MAX_UDP_CLIENTS) {
      const [oldestKey, oldest] = upstreams.entries().next().value as [string, Socket];
      upstreams.delete(oldestKey);
      oldest.close();
    }
    const upstream = createSocket('udp4');
    upstream.bind(0, HOST);
    upstream.on('message', (datagram) => {
      tally.bytesDown += datagram.length;
      tally.packetsDown++;
      listener.send(datagram, port, address);
    });
    // A closed port on the server side (ICMP unreachable) is not the proxy's concern.
    upstream.on('error', () => {});
    upstreams.set(key, upstream);
    tally.connections++;
    return upstream;
  };
  listener.on('message', (datagram, from) => {
    tally.bytesUp += datagram.length;
    tally.packetsUp++;
    upstreamFor(from.address, from.port).send(datagram, targetPort, HOST);
  });
  listener.on('error', () => {});
  await new Promise<void>((resolve) => listener.bind(0, HOST, resolve));
  return {
    protocol: 'udp',
    port: listener.address().port,
    counts: () => ({ ...tally }),
    async close(): Promise<void> {
      for (const upstream of upstreams.values()) upstream.close();
      upstreams.clear();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

/** A TCP proxy to 127.0.0.1:`targetPort`: each accepted connection opens one upstream and
 * the two are piped, counting what passes. */
export async function startTcpCountingProxy(targetPort: number): Promise<CountingProxy> {
  const tally = emptyTally();
  /** Open sockets, both sides, so close() ends them; removed when they close. */
  const open = new Set<TcpSocket>();
  const keep = (socket: TcpSocket): void => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    // A reset from either side ends the pair; it is not the proxy's error.
    socket.on('error', () => {});
  };
  const server = createServer((client) => {
    tally.connections++;
    const upstream = createConnection({ host: HOST, port: targetPort });
    keep(client);
    keep(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      tally.bytesUp += chunk.length;
      tally.packetsUp++;
    });
    upstream.on('data', (chunk: Buffer) => {
      tally.bytesDown += chunk.length;
      tally.packetsDown++;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the TCP counting proxy has no port');
  return {
    protocol: 'tcp',
    port: address.port,
    counts: () => ({ ...tally }),
    async close(): Promise<void> {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- pure helpers ------------------------------------------------------------------------

/** IPv4 + UDP headers per datagram (RFC 791, RFC 768). */
export const UDP_IPV4_HEADER_BYTES = 28;
/** IPv4 + TCP headers with the timestamp option Linux sends on every segment (RFC 791,
 * RFC 9293, RFC 7323 §3). */
export const TCP_IPV4_HEADER_BYTES = 52;
/** A TCP segment's payload on a 1500-byte Ethernet path with those headers (1500 − 52). */
export const TCP_SEGMENT_PAYLOAD = 1448;

/** What the counts leave out, per connection and direction alike: IP and UDP/TCP headers on
 * a 1500-byte Ethernet path. UDP: exact per datagram (DTLS records here stay below the MTU).
 * TCP: an estimate, because a read on loopback may carry many segments: the data segments
 * the bytes need at 1448 bytes each (at least one per read), one pure ACK per two data
 * segments the other way (delayed ACK, RFC 9293 §3.8.6.3), and 7 segments per connection
 * for its opening and closing handshakes. */
export function headerEstimate(counts: WireCounts, protocol: 'udp' | 'tcp'): number {
  if (protocol === 'udp') return (counts.packetsUp + counts.packetsDown) * UDP_IPV4_HEADER_BYTES;
  const segments = (bytes: number, reads: number): number => Math.max(reads, Math.ceil(bytes / TCP_SEGMENT_PAYLOAD));
  const up = segments(counts.bytesUp, counts.packetsUp);
  const down = segments(counts.bytesDown, counts.packetsDown);
  const acks = Math.ceil(up / 2) + Math.ceil(down / 2);
  return (up + down + acks + 7 * counts.connections) * TCP_IPV4_HEADER_BYTES;
}

/** `later` − `earlier`, field by field: the traffic of a window. */
export function countsBetween(earlier: WireCounts, later: WireCounts): WireCounts {
  return {
    bytesUp: later.bytesUp - earlier.bytesUp,
    bytesDown: later.bytesDown - earlier.bytesDown,
    packetsUp: later.packetsUp - earlier.packetsUp,
    packetsDown: later.packetsDown - earlier.packetsDown,
    connections: later.connections - earlier.connections,
  };
}

/** The sum of several proxies' counts (the broker's and the image server's). */
export function addCounts(...all: readonly WireCounts[]): WireCounts {
  return all.reduce((sum, counts) => ({
    bytesUp: sum.bytesUp + counts.bytesUp,
    bytesDown: sum.bytesDown + counts.bytesDown,
    packetsUp: sum.packetsUp + counts.packetsUp,
    packetsDown: sum.packetsDown + counts.packetsDown,
    connections: sum.connections + counts.connections,
  }), emptyTally());
}
