// The gateway's monitoring loop over real DTLS (PSK) on loopback with a real LMDB: a node
// that registers over its session has its agent's /health and /metrics observed back over
// that session; each notification lands where a PUT would (the node's health, the metrics
// history); an observation the agent ends is registered again after the back-off; an agent
// without /metrics (4.04) is not asked again; the node's disconnect stops both.
//
// The agent here is a stand-in: a DTLS client Endpoint serving /health and /metrics the way
// the node agent does (fleet/node-views.ts shapes), because the agent's real /metrics is
// being written right now by another engineer; the wire between them is the same.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint, type DtlsEndpoint } from '../../../src/dtls/dtls-endpoint.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import type { MetricsSample, MetricsView } from '../../../src/fleet/node-views.js';
import { encodeBody } from '../../../src/fleet/payload.js';
import type { HealthReport } from '../../../src/fleet/schemas.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { Gateway } from '../../../src/server/gateway.js';
import { waitFor } from '../../helpers/wait.js';
import { bodyOf, metricsSample, testConfig, unexpectedLogs, type LogLine } from './gateway-harness.js';

const keys: Record<string, Buffer> = { 'node:n1': randomBytes(16), 'node:n2': randomBytes(16), 'node:n3': randomBytes(16) };
const T0 = Date.now();

/** A stand-in agent: its health and latest metrics sample, served observably. */
interface StandIn {
  readonly endpoint: DtlsEndpoint;
  health: HealthReport;
  metrics: MetricsSample;
  /** What the next GET of /health answers instead of 2.05 (once). */
  failNext: number | undefined;
  /** GETs of /metrics so far. */
  metricsAsked: number;
}

const health = (cpu: number, uptimeS: number): HealthReport => ({
  status: 'healthy', cpu_percent: cpu, memory_percent: 30, temperature: null, uptime_s: uptimeS, timestamp: new Date().toISOString(),
});

async function standIn(nodeId: string, options: { metrics: boolean }): Promise<StandIn> {
  const identity = `node:${nodeId}`;
  const endpoint = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key: keys[identity]! }, host: '127.0.0.1', port: 0 });
  const agent: StandIn = { endpoint, health: health(5, 100), metrics: metricsSample(T0), failNext: undefined, metricsAsked: 0 };
  endpoint.router.add('/health', {
    observable: true,
    handlers: {
      GET: (request) => {
        const code = agent.failNext;
        agent.failNext = undefined;
        if (code !== undefined) return { code };
        return { code: ResponseCode.Content, maxAge: 60, ...encodeBody(agent.health, request.accept) };
      },
    },
  });
  endpoint.router.add('/metrics', {
    observable: true,
    handlers: {
      GET: (request) => {
        agent.metricsAsked++;
        // An older agent has no /metrics: 4.04, as its router would answer.
        if (!options.metrics) return { code: ResponseCode.NotFound };
        const view: MetricsView = { node_id: nodeId, interval_s: 10, samples: [agent.metrics] };
        return { code: ResponseCode.Content, maxAge: 60, ...encodeBody(view, request.accept) };
      },
    },
  });
  return agent;
}

let dir: string;
let gateway: Gateway;
let operator: Endpoint;
const logs: LogLine[] = [];
const agents: StandIn[] = [];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-gw-monitor-'));
  const pskFile = join(dir, 'psk.json');
  await writeFile(pskFile, JSON.stringify(Object.fromEntries(Object.entries(keys).map(([identity, key]) => [identity, key.toString('hex')]))), { mode: 0o600 });
  const logger = createDaemonLogger({ level: 'debug', pretty: false, stream: { write: (line) => logs.push(JSON.parse(line) as LogLine) } });
  gateway = await Gateway.start({ config: testConfig(join(dir, 'data'), { dtls_port: 0, psk_file: pskFile }), logger });
  operator = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
});

test.after(async () => {
  await Promise.all(agents.map((agent) => agent.endpoint.close()));
  await operator.close();
  await gateway.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Plain CoAP from loopback: the local operator. */
const read = async <T>(path: string, query: string[] = []): Promise<T> => {
  const response = await operator.request({ peer: { address: '127.0.0.1', port: gateway.addresses().coap!.port }, path, query });
  assert.is(response.code, ResponseCode.Content, path);
  return bodyOf<T>(response);
};

async function connect(nodeId: string, options: { metrics: boolean }): Promise<StandIn> {
  const agent = await standIn(nodeId, options);
  agents.push(agent);
  const registered = await agent.endpoint.request({
    uri: `coaps://127.0.0.1:${gateway.addresses().coaps!.port}/nodes`, method: Method.POST, contentFormat: ContentFormat.Json,
    payload: JSON.stringify({ node_id: nodeId, version: '1.0.0', hardware: 'stand-in', agent_port: 0 }),
  });
  assert.is(registered.code, ResponseCode.Created);
  return agent;
}

test('a connected node\'s /health and /metrics are observed; notifications land in its health and its history', async () => {
  const agent = await connect('n1', { metrics: true });
  await waitFor('both observations', () => gateway.monitor.statesOf('n1')?.health === 'observing' && gateway.monitor.statesOf('n1')?.metrics === 'observing');
  assert.is(agent.endpoint.observers('/health'), 1);
  assert.is(agent.endpoint.observers('/metrics'), 1);
  await waitFor('the first representations taken', () => gateway.store.getNode('n1')?.health?.cpu_percent === 5 && gateway.store.metricsTimes('n1').length === 1);

  agent.health = health(97, 160);
  agent.endpoint.notify('/health');
  await waitFor('the notified health stored', () => gateway.store.getNode('n1')?.health?.cpu_percent === 97);
  const shown = await read<{ online: boolean; health: { cpu_percent: number } }>('/nodes/n1/health');
  assert.equal([shown.online, shown.health.cpu_percent], [true, 97]);

  agent.metrics = metricsSample(T0 + 10_000, { '/': 55 });
  agent.endpoint.notify('/metrics');
  await waitFor('the notified sample in the history', () => gateway.store.metricsTimes('n1').includes(T0 + 10_000));
  const view = await read<MetricsView>('/nodes/n1/metrics', ['since=0']);
  assert.equal(view.samples.map((sample) => sample.disks[0]?.used_percent), [40, 55]);
  assert.is(view.interval_s, 10);
});

test('an observation the agent ends is registered again after the back-off', async () => {
  const agent = agents[0]!;
  // An error notification ends the observation (RFC 7641 §3.2).
  agent.failNext = ResponseCode.ServiceUnavailable;
  agent.endpoint.notify('/health');
  await waitFor('the watch waiting', () => gateway.monitor.statesOf('n1')?.health === 'waiting');
  await waitFor('observed again', () => gateway.monitor.statesOf('n1')?.health === 'observing');
  agent.health = health(20, 200);
  agent.endpoint.notify('/health');
  await waitFor('the new observation delivers', () => gateway.store.getNode('n1')?.health?.cpu_percent === 20);
});

test('an agent without /metrics (4.04) is not asked again; /health is still observed', async () => {
  const agent = await connect('n2', { metrics: false });
  await waitFor('metrics given up', () => gateway.monitor.statesOf('n2')?.metrics === 'unsupported');
  await waitFor('health observed', () => gateway.monitor.statesOf('n2')?.health === 'observing');
  agent.health = health(33, 50);
  agent.endpoint.notify('/health');
  await waitFor('the notified health stored', () => gateway.store.getNode('n2')?.health?.cpu_percent === 33);
  assert.is(agent.metricsAsked, 1, 'asked once');
  assert.is(gateway.monitor.statesOf('n2')?.metrics, 'unsupported');
});

test('a node that speaks before it registers is watched from its registration, and its first representation is kept', async () => {
  const agent = await standIn('n3', { metrics: true });
  agents.push(agent);
  agent.health = health(41, 10);
  const gatewayUri = `coaps://127.0.0.1:${gateway.addresses().coaps!.port}`;
  const asked = await agent.endpoint.request({ uri: `${gatewayUri}/updates` });
  assert.is(asked.code, ResponseCode.Content);
  // Not registered: not linked, so not watched (a representation now would have no record).
  assert.is(gateway.monitor.statesOf('n3'), undefined);
  const registered = await agent.endpoint.request({
    uri: `${gatewayUri}/nodes`, method: Method.POST, contentFormat: ContentFormat.Json,
    payload: JSON.stringify({ node_id: 'n3', version: '1.0.0', hardware: 'stand-in', agent_port: 0 }),
  });
  assert.is(registered.code, ResponseCode.Created);
  await waitFor('the first health representation stored', () => gateway.store.getNode('n3')?.health?.cpu_percent === 41);
  await waitFor('the first metrics sample stored', () => gateway.store.metricsTimes('n3').length === 1);
});

test('a node that disconnects is no longer observed', async () => {
  const agent = agents[0]!;
  await agent.endpoint.close();
  await waitFor('the watches stopped', () => gateway.monitor.statesOf('n1') === undefined);
  assert.ok(gateway.monitor.statesOf('n2') !== undefined, 'the other node still watched');
  assert.equal(unexpectedLogs(logs), []);
});

test.run();
