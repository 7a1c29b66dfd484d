// Our side of the CoAP-vs-MQTT comparison: a real `coap-fleet server` and one real
// `coap-fleet agent` per node, over DTLS with certificates (the same CA, P-256 mutual
// authentication, as the MQTT side's TLS) or with PSKs (our default), each agent talking
// to the gateway through the UDP counting proxy. The operator's client (publish, rollout status, the node list) talks
// to the gateway directly: its traffic is not the fleet's and is not counted.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../src/fleet/manifest.js';
import type { NodeView, StatusView } from '../../src/fleet/views.js';
import { openGateway } from '../../src/operator/gateway-client.js';
import type { Image } from '../../src/operator/image-file.js';
import { publishImage } from '../../src/operator/publish.js';
import { Method } from '../../src/protocol/codes.js';
import { startUdpCountingProxy } from './mqtt-counting-proxy.js';
import { dtlsCertificateCredentials, OPERATOR } from './mqtt-credentials.js';
import { METRICS_INTERVAL_S, waitUntil, type ComparedSide, type SideOptions, type UpdateProgress } from './mqtt-side.js';
import { daemon, until } from './proxy-fleet.js';
import { stopChild } from './servers.js';

export type DtlsMode = 'certificate' | 'psk';

/** The report's impl names: certificates are the like-for-like row. */
export const COAP_IMPL: Readonly<Record<DtlsMode, string>> = { certificate: 'coap-dtls', psk: 'coap-dtls-psk' };

export const startCoapSide = (mode: DtlsMode) => (options: SideOptions): Promise<ComparedSide> => start(mode, options);

async function start(mode: DtlsMode, options: SideOptions): Promise<ComparedSide> {
  const { dir, credentials, nodeIds } = options;
  const certificates = mode === 'certificate';
  const children: ChildProcess[] = [];
  const stoppers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
  };
  try {
    const ready = join(dir, 'gateway.ready');
    const gateway = daemon(join(dir, 'gateway.log'), [
      'server', '--data-dir', join(dir, 'gateway'), '--port', 'off', '--dtls-host', '127.0.0.1', '--dtls-port', '0',
      ...(certificates
        ? ['--cert-file', credentials.server.cert, '--key-file', credentials.server.key, '--ca-file', credentials.caBundle]
        : ['--psk-file', credentials.gatewayPskFile]),
      '--ready-file', ready, '--publisher-key-file', credentials.publisherPub,
    ]);
    children.push(gateway);
    stoppers.push(() => stopChild(gateway));
    const { coaps_port: port } = await until('the gateway\'s ready file', gateway, () => (existsSync(ready)
      ? JSON.parse(readFileSync(ready, 'utf8')) as { coaps_port: number } : undefined));
    const proxy = await startUdpCountingProxy(port);
    stoppers.push(() => proxy.close());
    const agents: ChildProcess[] = [];
    for (const nodeId of nodeIds) {
      const config = join(dir, `${nodeId}.json`);
      const files = credentials.client(`node-${nodeId}`);
      const dtls = certificates
        ? { cert_file: files.cert, key_file: files.key, ca_file: credentials.caFile }
        : { psk_identity: `node:${nodeId}`, psk_key_file: credentials.psk(`node-${nodeId}`) };
      // The end-to-end harness's agent (test/helpers/fleet.ts) on certificates, through the proxy.
      await writeFile(config, JSON.stringify({
        node_id: nodeId, gateway: `coaps://127.0.0.1:${proxy.port}`, data_dir: join(dir, nodeId), publisher_key: credentials.publisherPub,
        initial_version: '1.0.0', hardware: 'bench (loopback)', listen_host: '127.0.0.1', health_interval_s: options.healthIntervalS,
        metrics_interval_s: METRICS_INTERVAL_S,
        ...dtls,
      }));
      const agent = daemon(join(dir, `${nodeId}.log`), ['agent', '--config', config]);
      children.push(agent);
      agents.push(agent);
      stoppers.push(() => stopChild(agent));
    }
    const operator = await openGateway({
      gateway: `coaps://127.0.0.1:${port}`,
      ...(certificates ? { dtls: dtlsCertificateCredentials(credentials, `operator-${OPERATOR}`) } : { credentials: credentials.psk(`operator-${OPERATOR}`) }),
    });
    stoppers.push(() => operator.close());
    const checkAlive = (): void => {
      const dead = children.find((child) => child.exitCode !== null || child.signalCode !== null);
      if (dead !== undefined) throw new Error(`a process of our side exited (${dead.exitCode ?? dead.signalCode}); logs in ${dir}`);
    };
    await waitUntil('every node registered and online', async () => {
      const { nodes } = await operator.json<{ nodes: NodeView[] }>(Method.GET, '/nodes');
      return nodeIds.every((id) => nodes.some((node) => node.node_id === id && node.online));
    }, checkAlive);
    return {
      impl: COAP_IMPL[mode],
      agentPids: agents.map((agent) => agent.pid!),
      serverPids: new Map([['gateway', gateway.pid!]]),
      proxies: [proxy],
      async publish(image: Image, updateId: string, version: string): Promise<void> {
        // Every target may install at once, as on the MQTT side, which has no gating.
        const policy = { ...DEFAULT_POLICY, max_parallel_installs: nodeIds.length, failure_threshold: nodeIds.length };
        await publishImage(operator, { image: image.path, version, updateId, targets: nodeIds, policy, privateKey: readFileSync(credentials.publisherKey, 'utf8') });
      },
      async progress(updateId: string): Promise<UpdateProgress> {
        const { counts } = await operator.json<StatusView>(Method.GET, `/updates/${updateId}/status`);
        return { downloaded: counts.downloaded + counts.installing + counts.installed, installed: counts.installed };
      },
      checkAlive,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
