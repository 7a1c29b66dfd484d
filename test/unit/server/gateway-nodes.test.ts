// The gateway's node resources over real UDP with simulated DTLS identities: registration
// (2.01, then 2.04), health written by its own node only, observed by operators, the
// offline detector, decommissioning, and plain CoAP from loopback as the local operator.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { getStringOptions, OptionNumber } from '../../../src/protocol/options.js';
import { bodyOf, eventually, notificationMatching, startTestGateway, unexpectedLogs, type TestGateway } from './gateway-harness.js';

const registration = (id: string, version = '1.0.0') => ({ node_id: id, version, hardware: 'cortex-a55', agent_port: 5683 });
const health = (status = 'healthy', cpu = 12.5) => ({
  status, cpu_percent: cpu, memory_percent: 40, temperature: 51.5, uptime_s: 1000, timestamp: new Date().toISOString(),
});

async function withGateway(run: (gw: TestGateway) => Promise<void>, overrides = {}, allowedLogs = ['request denied']): Promise<void> {
  const gw = await startTestGateway(overrides);
  try {
    await run(gw);
    assert.equal(unexpectedLogs(gw.logs, allowedLogs), [], 'no unexpected warn or error log lines');
  } finally {
    await gw.close();
  }
}

test('a node registers itself: 2.01 with Location-Path, 2.04 again; only under its own id', () => withGateway(async (gw) => {
  const n1 = await gw.client('node:n1');
  const created = await gw.request(n1, 'POST', '/nodes', registration('n1'));
  assert.is(created.code, ResponseCode.Created);
  assert.equal(getStringOptions(created.options, OptionNumber.LocationPath), ['nodes', 'n1']);
  assert.is((await gw.request(n1, 'POST', '/nodes', registration('n1', '1.1.0'))).code, ResponseCode.Changed);
  const impostor = await gw.request(n1, 'POST', '/nodes', registration('n2'));
  assert.is(impostor.code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'POST', '/nodes', { node_id: 'n1' })).code, ResponseCode.BadRequest);
  const own = bodyOf(await gw.request(n1, 'GET', '/nodes/n1'));
  assert.is(own.version, '1.1.0');
  assert.is(own.online, true);
  assert.is((await gw.request(n1, 'GET', '/nodes/n2')).code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'GET', '/nodes')).code, ResponseCode.Forbidden);
  const actions = (): string[] => gw.gateway.store.recentAudit(10).map((entry) => `${entry.action} ${entry.who}`);
  await eventually(() => actions().includes('access.denied node:n1'));
  assert.ok(actions().includes('node.register node:n1') && actions().includes('node.version node:n1'));
}));

test('health: a node writes its own, never another\'s; operators read and observe it', () => withGateway(async (gw) => {
  const operator = await gw.client('operator:alice');
  const n1 = await gw.client('node:n1');
  const n2 = await gw.client('node:n2');
  const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
  assert.is((await gw.request(n1, 'PUT', '/nodes/n1/health', health())).code, ResponseCode.NotFound, 'register first');
  await gw.request(n1, 'POST', '/nodes', registration('n1'));
  await gw.request(n2, 'POST', '/nodes', registration('n2'));
  const { observation, first } = await operator.observe({ peer, path: '/nodes/n1/health' });
  assert.is(bodyOf(first).health, null);
  const notifications = observation[Symbol.asyncIterator]();
  assert.is((await gw.request(n1, 'PUT', '/nodes/n1/health', health('degraded', 97))).code, ResponseCode.Changed);
  const seen = await notificationMatching<{ health: { status: string; cpu_percent: number } | null }>(notifications, (body) => body.health !== null);
  assert.equal([seen.health!.status, seen.health!.cpu_percent], ['degraded', 97]);
  await observation.cancel();

  assert.is((await gw.request(n2, 'PUT', '/nodes/n1/health', health('unhealthy'))).code, ResponseCode.Forbidden);
  assert.is((await gw.request(operator, 'PUT', '/nodes/n1/health', health())).code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'GET', '/nodes/n1/health')).code, ResponseCode.Forbidden, 'reading health is for operators');
  const bad = await gw.request(n1, 'PUT', '/nodes/n1/health', { ...health(), cpu_percent: 140 });
  assert.is(bad.code, ResponseCode.BadRequest);
  assert.match(bad.payload.toString(), 'cpu_percent: 0..100');
  const stored = bodyOf<{ health: { status: string } }>(await gw.request(operator, 'GET', '/nodes/n1/health'));
  assert.is(stored.health.status, 'degraded', 'the refused writes changed nothing');
  const list = bodyOf<{ nodes: { node_id: string; online: boolean; health: unknown }[] }>(await gw.request(operator, 'GET', '/nodes'));
  assert.equal(list.nodes.map((node) => [node.node_id, node.online]), [['n1', true], ['n2', true]]);
}));

test('a node silent for N health intervals is offline, and back online when it reports', () => withGateway(async (gw) => {
  const operator = await gw.client('operator:alice');
  const n1 = await gw.client('node:n1');
  const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
  await gw.request(n1, 'POST', '/nodes', registration('n1'));
  const { observation } = await operator.observe({ peer, path: '/nodes' });
  const notifications = observation[Symbol.asyncIterator]();
  type Nodes = { nodes: { online: boolean }[] };
  await notificationMatching<Nodes>(notifications, (body) => body.nodes[0]?.online === false, 3000);
  assert.is(bodyOf(await gw.request(operator, 'GET', '/nodes/n1')).online, false);
  await gw.request(n1, 'PUT', '/nodes/n1/health', health());
  await notificationMatching<Nodes>(notifications, (body) => body.nodes[0]?.online === true, 3000);
  await observation.cancel();
  const actions = (): string[] => gw.gateway.store.recentAudit(10).map((entry) => entry.action);
  await eventually(() => actions().includes('node.offline') && actions().includes('node.online'));
  assert.ok(gw.logs.some((line) => line.msg === 'node offline' && line.node === 'n1'));
}, { health_interval_s: 0.1, offline_after_intervals: 2 }, ['request denied', 'node offline']));

test('an operator decommissions a node: 2.02, gone from /nodes, a repeat is 2.02 too', () => withGateway(async (gw) => {
  const operator = await gw.client('operator:alice');
  const n1 = await gw.client('node:n1');
  await gw.request(n1, 'POST', '/nodes', registration('n1'));
  assert.is((await gw.request(n1, 'DELETE', '/nodes/n1')).code, ResponseCode.Forbidden);
  assert.is((await gw.request(operator, 'DELETE', '/nodes/n1')).code, ResponseCode.Deleted);
  assert.is((await gw.request(operator, 'DELETE', '/nodes/n1')).code, ResponseCode.Deleted);
  assert.equal(bodyOf(await gw.request(operator, 'GET', '/nodes')).nodes, []);
  assert.is((await gw.request(operator, 'GET', '/nodes/n1')).code, ResponseCode.NotFound);
  assert.is(gw.gateway.store.recentAudit(10).filter((entry) => entry.action === 'node.decommission').length, 1);
}));

test('plain CoAP from loopback is the local operator, and may act for a node it names', () => withGateway(async (gw) => {
  const local = await gw.client();
  assert.is((await gw.request(local, 'POST', '/nodes', registration('n9'))).code, ResponseCode.Created);
  assert.is((await gw.request(local, 'PUT', '/nodes/n9/health', health())).code, ResponseCode.Changed);
  assert.is(bodyOf<{ nodes: unknown[] }>(await gw.request(local, 'GET', '/nodes')).nodes.length, 1);
  const { manifestFor } = await import('./gateway-harness.js');
  assert.is((await gw.request(local, 'POST', '/updates', manifestFor('u1', ['n9']))).code, ResponseCode.Created);
  assert.is((await gw.request(local, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.5 }, { query: ['node=n9'] })).code, ResponseCode.Changed);
  assert.is((await gw.request(local, 'POST', '/updates', manifestFor('u2', ['n8']))).code, ResponseCode.Created);
  const view = bodyOf<{ updates: { update_id: string }[] }>(await gw.request(local, 'GET', '/updates', undefined, { query: ['node=n9'] }));
  assert.equal(view.updates.map((entry) => entry.update_id), ['u1'], '?node=ID: that node\'s view');
  const status = bodyOf<{ nodes: Record<string, { progress: number }> }>(await gw.request(local, 'GET', '/updates/u1/status'));
  assert.is(status.nodes.n9!.progress, 0.5);
  assert.match(String(gw.gateway.store.recentAudit(10).find((entry) => entry.action === 'update.create')?.who), /^local@127\.0\.0\.1:\d+$/);
}));

test('with allow_local_plain off, plain CoAP gets 4.01 even from loopback', () => withGateway(async (gw) => {
  const local = await gw.client();
  const denied = await gw.request(local, 'GET', '/nodes');
  assert.is(denied.code, ResponseCode.Unauthorized);
  assert.is(denied.payload.toString(), 'identity required');
  // The count moves when the entry is queued, the entry shows once committed.
  await eventually(() => gw.gateway.store.recentAudit(1).length > 0);
  const entry = gw.gateway.store.recentAudit(1)[0]!;
  assert.match(entry.who, /^anonymous@127\.0\.0\.1:\d+$/);
  assert.match(entry.detail ?? '', /^GET 4.01: no identity$/);
  const wellKnown = await local.request({ peer: { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port }, path: '/.well-known/core' });
  assert.is(wellKnown.code, ResponseCode.Content, 'discovery stays open');
}, { allow_local_plain: false }));

test('a restart keeps registered nodes with their health', async () => {
  let gw = await startTestGateway();
  try {
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    await gw.request(n1, 'PUT', '/nodes/n1/health', health('healthy', 33));
    gw = await gw.restart();
    const operator = await gw.client('operator:alice');
    const node = bodyOf<{ node_id: string; health: { cpu_percent: number } }>(await gw.request(operator, 'GET', '/nodes/n1'));
    assert.is(node.health.cpu_percent, 33);
    const again = await gw.client('node:n1');
    assert.is((await gw.request(again, 'POST', '/nodes', registration('n1'))).code, ResponseCode.Changed, 'known after the restart');
  } finally {
    await gw.close();
  }
});

test.run();
