// A fault-injecting UDP proxy for testing real processes over a bad path: each datagram,
// in either direction, goes through planDelivery (loss, duplication, reordering, delay,
// jitter) with a seeded random stream. One upstream socket per client, so the target sees
// each client as a distinct peer. `coap-fleet fault-proxy` runs it from the command line.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import type { Clock, Logger, PeerAddress, TimerHandle } from '../protocol/interfaces.js';
import { formatPeer, peerKey } from '../protocol/interfaces.js';
import { silentLogger, systemClock } from '../protocol/runtime.js';
import { SeededRandom } from '../protocol/seeded-random.js';
import { planDelivery, type FaultOptions } from '../protocol/transport-faulty.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface FaultProxyOptions {
  readonly listen: HostPort;
  readonly target: HostPort;
  readonly faults: FaultOptions;
  /** Seeds the fault decisions, so a run can be replayed (timing permitting). */
  readonly seed: number;
  /** Client mappings kept at once; the least recently active is evicted (default 1024). */
  readonly maxClients?: number;
  /** A mapping with no datagram either way for this long is closed (default 60 s). */
  readonly idleTimeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Per direction. Every received datagram is either dropped or forwarded (at least once);
 * `duplicated` counts the extra copies. Counted when planned, so a copy still waiting for
 * its delay when the proxy closes is counted but never sent. */
export interface DirectionStats {
  received: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
}

export interface FaultProxyStats {
  readonly toTarget: DirectionStats;
  readonly toClient: DirectionStats;
  /** Open client mappings now. */
  readonly clients: number;
  /** Mappings closed to make room, and for idleness. */
  readonly evicted: number;
  readonly expired: number;
}

export interface FaultProxy {
  address(): PeerAddress;
  stats(): FaultProxyStats;
  close(): Promise<void>;
}

interface ClientMapping {
  readonly key: string;
  readonly client: PeerAddress;
  readonly upstream: Socket;
  lastActive: number;
  closed: boolean;
}

const DEFAULT_MAX_CLIENTS = 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

async function resolveHost(host: string): Promise<string> {
  return isIP(host) !== 0 ? host : (await lookup(host)).address;
}

const isLoopback = (address: string): boolean => address === '::1' || address.startsWith('127.');

/** Upstream sockets bind to the loopback when the target is there, so a test proxy opens
 * nothing beyond it; otherwise to the wildcard of the target's family. */
function upstreamBindAddress(target: string): string {
  if (isLoopback(target)) return target === '::1' ? '::1' : '127.0.0.1';
  return isIPv6(target) ? '::' : '0.0.0.0';
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

const emptyStats = (): DirectionStats => ({ received: 0, forwarded: 0, dropped: 0, duplicated: 0 });

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const random = new SeededRandom(options.seed);
  const maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (!Number.isInteger(maxClients) || maxClients < 1) throw new RangeError('maxClients must be an integer >= 1');
  if (!(idleTimeoutMs > 0)) throw new RangeError('idleTimeoutMs must be > 0');
  const target: PeerAddress = { address: await resolveHost(options.target.host), port: options.target.port };
  const listenHost = await resolveHost(options.listen.host);

  const listener = createSocket({ type: isIPv6(listenHost) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.bind(options.listen.port, listenHost, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  listener.on('error', (error) => logger.warn({ err: error }, 'fault proxy: listening socket error'));

  const toTarget = emptyStats();
  const toClient = emptyStats();
  let evicted = 0;
  let expired = 0;
  let closed = false;
  /** Client mappings by client address, least recently active first (a Map keeps
   * insertion order; activity re-inserts). Added on a client's first datagram; removed
   * by eviction beyond `maxClients`, by the idle sweep, or by close. */
  const mappings = new Map<string, ClientMapping>();
  /** Delayed deliveries not yet made; cleared by close so nothing fires afterwards. */
  const pending = new Set<TimerHandle>();
  let sweepTimer: TimerHandle | undefined;

  const forward = (stats: DirectionStats, send: () => void): void => {
    stats.received++;
    const delays = planDelivery(options.faults, random);
    if (delays.length === 0) {
      stats.dropped++;
      return;
    }
    stats.forwarded++;
    stats.duplicated += delays.length - 1;
    for (const ms of delays) {
      if (ms <= 0) {
        send();
        continue;
      }
      const handle = clock.setTimeout(() => {
        pending.delete(handle);
        if (!closed) send();
      }, ms);
      pending.add(handle);
    }
  };

  const touch = (mapping: ClientMapping): void => {
    mapping.lastActive = clock.now();
    mappings.delete(mapping.key);
    mappings.set(mapping.key, mapping);
  };

  const drop = (mapping: ClientMapping): void => {
    mapping.closed = true;
    mappings.delete(mapping.key);
    void closeSocket(mapping.upstream);
  };

  const sweep = (): void => {
    sweepTimer = undefined;
    const cutoff = clock.now() - idleTimeoutMs;
    for (const mapping of mappings.values()) {
      if (mapping.lastActive > cutoff) break; // the rest are more recent
      logger.debug({ client: formatPeer(mapping.client) }, 'fault proxy: idle client mapping closed');
      drop(mapping);
      expired++;
    }
    armSweep();
  };

  function armSweep(): void {
    if (sweepTimer !== undefined || closed || mappings.size === 0) return;
    sweepTimer = clock.setTimeout(sweep, Math.max(10, idleTimeoutMs / 2));
  }

  const openMapping = (client: PeerAddress): ClientMapping => {
    while (mappings.size >= maxClients) {
      const oldest = mappings.values().next().value!;
      logger.debug({ client: formatPeer(oldest.client) }, 'fault proxy: client mapping evicted');
      drop(oldest);
      evicted++;
    }
    const upstream = createSocket({ type: isIPv6(target.address) ? 'udp6' : 'udp4' });
    // Datagrams sent while the bind is in progress are queued by node:dgram.
    upstream.bind(0, upstreamBindAddress(target.address));
    const mapping: ClientMapping = { key: peerKey(client), client, upstream, lastActive: clock.now(), closed: false };
    upstream.on('error', (error) => logger.warn({ err: error, client: formatPeer(client) }, 'fault proxy: upstream socket error'));
    upstream.on('message', (data: Buffer, from: RemoteInfo) => {
      // Only the target's answers go back; anything else reaching this port is not ours.
      if (mapping.closed || from.address !== target.address || from.port !== target.port) return;
      touch(mapping);
      forward(toClient, () => listener.send(data, client.port, client.address));
    });
    mappings.set(mapping.key, mapping);
    armSweep();
    return mapping;
  };

  listener.on('message', (data: Buffer, from: RemoteInfo) => {
    if (closed) return;
    const client = { address: from.address, port: from.port };
    const existing = mappings.get(peerKey(client));
    const mapping = existing ?? openMapping(client);
    if (existing !== undefined) touch(existing);
    forward(toTarget, () => {
      if (!mapping.closed) mapping.upstream.send(data, target.port, target.address);
    });
  });

  return {
    address: () => {
      const { address, port } = listener.address();
      return { address, port };
    },
    stats: () => ({ toTarget: { ...toTarget }, toClient: { ...toClient }, clients: mappings.size, evicted, expired }),
    close: async () => {
      if (closed) return;
      closed = true;
      for (const handle of pending) clock.clearTimeout(handle);
      pending.clear();
      if (sweepTimer !== undefined) clock.clearTimeout(sweepTimer);
      const sockets = [listener, ...[...mappings.values()].map((mapping) => mapping.upstream)];
      for (const mapping of mappings.values()) mapping.closed = true;
      mappings.clear();
      await Promise.all(sockets.map(closeSocket));
    },
  };
}
