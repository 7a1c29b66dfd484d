// The agent of the comparison's MQTT + HTTPS side, one process per node: an MQTT client
// (TLS with the node's certificate, JSON as MQTT users write it) that registers (retained),
// publishes the same health report as our agent (SystemHealth, the same figures) every
// healthIntervalS at QoS 1 and the same metrics sample (SystemMetrics) every
// metricsIntervalS at QoS 0 (our agent sends it NON: a lost one is superseded by the next),
// and follows `fleet/updates`: a manifest is checked as our
// agent checks it (checkManifest: signature, target, anti-rollback), the image fetched
// over HTTPS with the node's certificate, its sha256 checked as it streams to a file, then
// installed into the same fsynced A/B slots as ours (SlotDirectory). `node mqtt-agent.js
// CONFIG.json`; it runs until killed.

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { get } from 'node:https';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connectAsync } from 'mqtt';
import { checkManifest } from '../../src/agent/manifest-check.js';
import { otherSlot, SlotDirectory } from '../../src/agent/slots.js';
import { SystemHealth } from '../../src/agent/system-health.js';
import { SystemMetrics } from '../../src/agent/system-metrics.js';
import { toPublicKey, type Manifest } from '../../src/fleet/manifest.js';
import type { MetricsView } from '../../src/fleet/node-views.js';
import { topics } from './mqtt-broker.js';
import type { AgentConfig, NodeRecord, StatusMessage, UpdateAnnouncement } from './mqtt-messages.js';

const config = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as AgentConfig;
const principal = `node:${config.nodeId}`;
const tls = { ca: await readFile(config.caFile), cert: await readFile(config.cert), key: await readFile(config.key) };
const publisherKey = toPublicKey(await readFile(config.publisherKey, 'utf8'));
const slots = new SlotDirectory(join(config.dataDir, 'slots'));
const downloads = join(config.dataDir, 'downloads');
await slots.init();
await mkdir(downloads, { recursive: true });
const health = new SystemHealth();
const metrics = new SystemMetrics();
let version = config.initialVersion;
/** The update being downloaded or installed: one at a time, as our agent. */
let busy: string | undefined;

const client = await connectAsync({ protocol: 'mqtts', host: '127.0.0.1', port: config.brokerPort, clientId: config.nodeId, ...tls });

const publish = (topic: string, body: unknown, retain = false, qos: 0 | 1 = 1): Promise<unknown> =>
  client.publishAsync(topic, JSON.stringify(body), { qos, retain });
const register = (): Promise<unknown> =>
  publish(topics.node(principal), { node_id: config.nodeId, version, hardware: 'bench (loopback)' } satisfies NodeRecord, true);
const status = (updateId: string, state: StatusMessage['state'], error: string | null = null): Promise<unknown> =>
  publish(topics.status(principal), { update_id: updateId, state, error } satisfies StatusMessage);

await register();
await client.subscribeAsync(topics.updates, { qos: 1 });

const reportHealth = async (): Promise<void> => {
  try {
    await publish(topics.health(principal), await health.sample());
  } catch {
    // Not connected right now: the next period sends a fresh one (as our agent).
  }
};
setInterval(() => void reportHealth(), config.healthIntervalS * 1000);
// Our agent's GET /metrics notification: the latest sample alone (metrics-resource.ts).
const reportMetrics = async (): Promise<void> => {
  try {
    const view: MetricsView = { node_id: config.nodeId, interval_s: config.metricsIntervalS, samples: [await metrics.sample(new Date())] };
    await publish(topics.metrics(principal), view, false, 0);
  } catch {
    // As for health: the next period sends a fresh one.
  }
};
setInterval(() => void reportMetrics(), config.metricsIntervalS * 1000);

client.on('message', (topic, payload) => {
  if (topic !== topics.updates || busy !== undefined) return;
  // Bad input is ignored, never a crash: anything but an object with a URL, and any
  // manifest checkManifest refuses.
  let announcement: Partial<UpdateAnnouncement> | null;
  try {
    announcement = JSON.parse(payload.toString('utf8')) as Partial<UpdateAnnouncement> | null;
  } catch {
    return;
  }
  if (typeof announcement !== 'object' || announcement === null || typeof announcement.url !== 'string') return;
  const verdict = checkManifest(announcement.manifest, { nodeId: config.nodeId, publisherKey, installedVersion: version });
  if (!verdict.ok) return;
  busy = verdict.manifest.update_id;
  void update(verdict.manifest, announcement.url).finally(() => {
    busy = undefined;
  });
});

async function update(manifest: Manifest, url: string): Promise<void> {
  const id = manifest.update_id;
  try {
    await status(id, 'downloading');
    const file = join(downloads, `${id}.bin`);
    await download(url, file, manifest);
    await status(id, 'downloaded');
    await status(id, 'installing');
    const slot = otherSlot(await slots.active());
    await slots.write(slot, file, manifest.version);
    await slots.switchTo(slot);
    await rm(file, { force: true });
    version = manifest.version;
    await status(id, 'installed');
    await register();
  } catch (error) {
    await status(id, 'failed', (error as Error).message.slice(0, 512)).catch(() => {});
  }
}

/** GET over HTTPS into `file` through a sha256 of what passes; renamed into place only
 * when the size and the digest are the manifest's. */
async function download(url: string, file: string, manifest: Manifest): Promise<void> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    get(url, { ...tls }, resolve).on('error', reject);
  });
  if (response.statusCode !== 200) {
    response.resume();
    throw new Error(`image: HTTP ${response.statusCode}`);
  }
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done): void {
      size += chunk.length;
      if (size > manifest.size) {
        done(new Error(`image larger than the manifest's ${manifest.size} bytes`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const partial = `${file}.part`;
  await pipeline(response, tap, createWriteStream(partial));
  const digest = `sha256:${hash.digest('hex')}`;
  if (size !== manifest.size || digest !== manifest.checksum) {
    await rm(partial, { force: true });
    throw new Error(`image: ${size} bytes, ${digest}; the manifest says ${manifest.size}, ${manifest.checksum}`);
  }
  await rename(partial, file);
}
