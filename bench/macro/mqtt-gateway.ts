// The gateway of the comparison's MQTT + HTTPS side, as a process of its own so that its
// CPU and memory are its alone: an MQTT client of the broker (QoS 1, TLS with its own
// certificate) that keeps each node's registration, latest health and update state, and
// announces an update by a retained QoS 1 message on `fleet/updates` carrying the signed
// manifest and the image's URL; and a node:https server that serves the images to nodes
// with a client certificate (mutual TLS, as our DTLS). The parent drives it over IPC:
// `node mqtt-gateway.js CONFIG.json`. Small, but no deliberately bad choices.

import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { principalFromIdentity } from '../../src/fleet/identity.js';
import type { MetricsView } from '../../src/fleet/node-views.js';
import { parseHealth, type HealthReport } from '../../src/fleet/schemas.js';
import { topics } from './mqtt-broker.js';
import type { GatewayCommand, GatewayConfig, GatewayEvent, NodeRecord, UpdateAnnouncement } from './mqtt-messages.js';

/** Nodes kept in memory; a message from a node beyond it is dropped (a bound, not a
 * figure of the comparison: it has five). */
const MAX_NODES = 10_000;

interface NodeState {
  record: NodeRecord | undefined;
  health: HealthReport | undefined;
  /** The latest metrics sample, as our gateway's metrics history keeps samples (bounded to one here). */
  metrics: MetricsView | undefined;
  /** The latest state per announced update id. */
  readonly updates: Map<string, string>;
}

const config = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as GatewayConfig;
const nodes = new Map<string, NodeState>();
/** The updates announced: a node's status for any other is dropped, which bounds each
 * node's `updates` by the announcements. */
const announced = new Set<string>();

const send = (event: GatewayEvent): void => {
  process.send?.(event);
};

const nodeState = (nodeId: string): NodeState | undefined => {
  const existing = nodes.get(nodeId);
  if (existing !== undefined) return existing;
  if (nodes.size >= MAX_NODES) return undefined;
  const created: NodeState = { record: undefined, health: undefined, metrics: undefined, updates: new Map() };
  nodes.set(nodeId, created);
  return created;
};

const client = await connectAsync({
  protocol: 'mqtts', host: '127.0.0.1', port: config.brokerPort, clientId: `gateway-${process.pid}`,
  ca: await readFile(config.caFile), cert: await readFile(config.clientCert), key: await readFile(config.clientKey),
});
await client.subscribeAsync([topics.allHealth, topics.allStatus, topics.allNodes], { qos: 1 });
await client.subscribeAsync(topics.allMetrics, { qos: 0 });

// A bad message is dropped, never a crash (the same rule as our daemons).
client.on('message', (topic, payload) => {
  // fleet/<CN>/<kind>: the broker's ACL lets a node write under its own CN only.
  const [, commonName, kind] = topic.split('/');
  const principal = principalFromIdentity(commonName);
  const state = principal?.role === 'node' ? nodeState(principal.name) : undefined;
  if (state === undefined) return;
  try {
    const body: unknown = JSON.parse(payload.toString('utf8'));
    switch (kind) {
      case 'health':
        state.health = parseHealth(body);
        return;
      case 'metrics':
        state.metrics = body as MetricsView;
        return;
      case 'node': {
        const record = body as NodeRecord | null;
        if (typeof record?.version === 'string') state.record = record;
        return;
      }
      case 'status': {
        const { update_id: updateId, state: updateState } = body as { update_id: string; state: string };
        if (announced.has(updateId) && typeof updateState === 'string') state.updates.set(updateId, updateState);
        return;
      }
      // Any other kind: dropped.
    }
  } catch {
    // Not JSON, or not the shape: dropped.
  }
});

// Images by their sha256 (content addressed, as our gateway's image store), to a client
// whose certificate names a node.
const images = createServer({
  cert: await readFile(config.serverCert), key: await readFile(config.serverKey), ca: await readFile(config.caBundle),
  requestCert: true, rejectUnauthorized: true,
}, (request, response) => {
  const commonName = (request.socket as TLSSocket).getPeerCertificate().subject?.CN;
  const principal = principalFromIdentity(Array.isArray(commonName) ? commonName[0] : commonName);
  const match = /^\/images\/([0-9a-f]{64})$/.exec(request.url ?? '');
  if (principal?.role !== 'node') {
    response.writeHead(403).end();
    return;
  }
  if (request.method !== 'GET' || match === null) {
    response.writeHead(404).end();
    return;
  }
  const path = join(config.imagesDir, match[1]!);
  stat(path).then((info) => {
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': info.size });
    createReadStream(path).on('error', () => response.destroy()).pipe(response);
  }, () => response.writeHead(404).end());
});
await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
const address = images.address();
if (address === null || typeof address === 'string') throw new Error('the image server has no port');

process.on('message', (command: GatewayCommand) => {
  switch (command.kind) {
    case 'announce': {
      const announcement: UpdateAnnouncement = { manifest: command.manifest, url: command.url };
      announced.add(command.manifest.update_id);
      // Retained: a node that connects later still hears of it (as a GET of our /updates).
      client.publish(topics.updates, JSON.stringify(announcement), { qos: 1, retain: true });
      return;
    }
    case 'query':
      send({
        kind: 'stats',
        nodes: Object.fromEntries([...nodes].map(([id, state]) => [id, { version: state.record?.version ?? null, updates: Object.fromEntries(state.updates) }])),
      });
      return;
  }
});

send({ kind: 'ready', httpsPort: address.port });
