// The MQTT + HTTPS side of the comparison: Debian's mosquitto (TLS, certificates), the
// comparison's gateway (mqtt-gateway.ts: broker client + node:https image server) and one
// mqtt-agent.ts per node, each a process of its own. The agents reach the broker and the
// image server through a TCP counting proxy each; the gateway reaches the broker directly
// (on our side the gateway is the server end itself, so its own traffic is not on a link).

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../src/fleet/manifest.js';
import type { Image } from '../../src/operator/image-file.js';
import { buildManifest } from '../../src/operator/publish.js';
import { startBroker, type Broker } from './mqtt-broker.js';
import { startTcpCountingProxy } from './mqtt-counting-proxy.js';
import { MQTT_GATEWAY_OPERATOR } from './mqtt-credentials.js';
import type { AgentConfig, GatewayCommand, GatewayConfig, GatewayEvent, GatewayStats } from './mqtt-messages.js';
import { METRICS_INTERVAL_S, STARTUP_TIMEOUT_MS, waitUntil, type ComparedSide, type SideOptions, type UpdateProgress } from './mqtt-side.js';
import { NODE_FLAGS, scriptPath, spawnTracked, stopChild } from './servers.js';

export const MQTT_IMPL = 'mqtt-tls+https';
const QUERY_TIMEOUT_MS = 10_000;

export async function startMqttSide(options: SideOptions): Promise<ComparedSide> {
  const { dir, credentials, nodeIds } = options;
  const children: ChildProcess[] = [];
  const stoppers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
  };
  let broker: Broker | undefined;
  const checkAlive = (): void => {
    if (broker?.running() === false) throw new Error(`mosquitto exited; logs in ${dir}`);
    const dead = children.find((child) => child.exitCode !== null || child.signalCode !== null);
    if (dead !== undefined) throw new Error(`a process of the MQTT side exited (${dead.exitCode ?? dead.signalCode}); logs in ${dir}`);
  };
  try {
    broker = await startBroker(dir, credentials, `operator:${MQTT_GATEWAY_OPERATOR}`);
    const started = broker;
    stoppers.push(() => started.stop());
    const imagesDir = join(dir, 'gateway-images');
    await mkdir(imagesDir, { recursive: true });
    const gatewayFiles = credentials.client(`operator-${MQTT_GATEWAY_OPERATOR}`);
    const gatewayConfig: GatewayConfig = {
      brokerPort: broker.port, caFile: credentials.caFile, caBundle: credentials.caBundle, clientCert: gatewayFiles.cert, clientKey: gatewayFiles.key,
      serverCert: credentials.server.cert, serverKey: credentials.server.key, imagesDir,
    };
    const gatewayConfigPath = join(dir, 'gateway.json');
    await writeFile(gatewayConfigPath, JSON.stringify(gatewayConfig));
    const gateway = nodeChild('mqtt-gateway.js', gatewayConfigPath, join(dir, 'gateway.log'), true);
    children.push(gateway);
    stoppers.push(() => stopChild(gateway));
    const events = new GatewayEvents(gateway);
    const { httpsPort } = await events.next('ready', STARTUP_TIMEOUT_MS, checkAlive);
    const brokerProxy = await startTcpCountingProxy(broker.port);
    stoppers.push(() => brokerProxy.close());
    const httpsProxy = await startTcpCountingProxy(httpsPort);
    stoppers.push(() => httpsProxy.close());
    const agents: ChildProcess[] = [];
    for (const nodeId of nodeIds) {
      const files = credentials.client(`node-${nodeId}`);
      const config: AgentConfig = {
        nodeId, brokerPort: brokerProxy.port, caFile: credentials.caFile, cert: files.cert, key: files.key, dataDir: join(dir, nodeId),
        publisherKey: credentials.publisherPub, initialVersion: '1.0.0', healthIntervalS: options.healthIntervalS,
        metricsIntervalS: METRICS_INTERVAL_S,
      };
      const path = join(dir, `${nodeId}.json`);
      await writeFile(path, JSON.stringify(config));
      const agent = nodeChild('mqtt-agent.js', path, join(dir, `${nodeId}.log`), false);
      children.push(agent);
      agents.push(agent);
      stoppers.push(() => stopChild(agent));
    }
    const stats = async (): Promise<GatewayStats> => {
      gateway.send({ kind: 'query' } satisfies GatewayCommand);
      return events.next('stats', QUERY_TIMEOUT_MS, checkAlive);
    };
    await waitUntil('every MQTT agent registered', async () => {
      const view = await stats();
      return nodeIds.every((id) => typeof view.nodes[id]?.version === 'string');
    }, checkAlive);
    return {
      impl: MQTT_IMPL,
      agentPids: agents.map((agent) => agent.pid!),
      serverPids: new Map([['gateway', gateway.pid!], ['broker', broker.pid]]),
      proxies: [brokerProxy, httpsProxy],
      async publish(image: Image, updateId: string, version: string): Promise<void> {
        // Format 1: the whole image's sha256, all an HTTPS download can check.
        const manifest = await buildManifest({
          image: image.path, version, updateId, targets: nodeIds, policy: DEFAULT_POLICY, manifestVersion: 1,
          privateKey: readFileSync(credentials.publisherKey, 'utf8'),
        });
        await copyFile(image.path, join(imagesDir, image.sha256));
        gateway.send({ kind: 'announce', manifest, url: `https://127.0.0.1:${httpsProxy.port}/images/${image.sha256}` } satisfies GatewayCommand);
      },
      async progress(updateId: string): Promise<UpdateProgress> {
        const view = await stats();
        const states = nodeIds.map((id) => view.nodes[id]?.updates[updateId]);
        return {
          downloaded: states.filter((state) => state === 'downloaded' || state === 'installing' || state === 'installed').length,
          installed: states.filter((state) => state === 'installed').length,
        };
      },
      checkAlive,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** `node dist/bench/macro/SCRIPT CONFIG` with its output in a log file; the gateway also
 * gets an IPC channel. */
function nodeChild(script: string, config: string, log: string, ipc: boolean): ChildProcess {
  const child = spawnTracked(process.execPath, [...NODE_FLAGS, scriptPath(script), config], { stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])] });
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.once('exit', () => void writeFile(log, text).catch(() => {}));
  return child;
}

/** The gateway's IPC messages, taken one kind at a time in the order they come. */
class GatewayEvents {
  readonly #waiting: { kind: GatewayEvent['kind']; resolve: (event: GatewayEvent) => void }[] = [];

  constructor(gateway: ChildProcess) {
    gateway.on('message', (event: GatewayEvent) => {
      const index = this.#waiting.findIndex((waiter) => waiter.kind === event.kind);
      if (index >= 0) this.#waiting.splice(index, 1)[0]!.resolve(event);
    });
  }

  async next<K extends GatewayEvent['kind']>(kind: K, timeoutMs: number, checkAlive: () => void): Promise<Extract<GatewayEvent, { kind: K }>> {
    const deadline = Date.now() + timeoutMs;
    let event: GatewayEvent | undefined;
    const waiter = { kind, resolve: (value: GatewayEvent) => { event = value; } };
    this.#waiting.push(waiter);
    while (event === undefined) {
      checkAlive();
      if (Date.now() > deadline) {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        throw new Error(`the MQTT gateway sent no ${kind} within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return event as Extract<GatewayEvent, { kind: K }>;
  }
}
