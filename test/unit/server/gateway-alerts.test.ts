// The gateway's alerts over real UDP with simulated DTLS identities and a real LMDB: health
// samples over a threshold for the rule's duration (the samples' own timestamps are the
// sample times) raise an alert shown by GET /alerts and told to its observers; an operator
// acknowledges it; a failed update raises at once; alerts survive a restart of the gateway.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AlertRecord } from '../../../src/server/alert-rules.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { bodyOf, manifestFor, notificationMatching, startTestGateway, unexpectedLogs } from './gateway-harness.js';

const registration = (id: string) => ({ node_id: id, version: '1.0.0', hardware: 'cortex-a55', agent_port: 5683 });
const T0 = Date.parse('2026-01-01T00:00:00Z');
const health = (atS: number, cpu: number) => ({
  status: 'healthy', cpu_percent: cpu, memory_percent: 40, temperature: 50, uptime_s: 1000 + atS, timestamp: new Date(T0 + atS * 1000).toISOString(),
});
type Alerts = { alerts: AlertRecord[] };

test('cpu over the threshold for 300 s raises an alert: listed, observed, acknowledged, kept across a restart', async () => {
  let gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    const { observation, first } = await operator.observe({ peer, path: '/alerts' });
    assert.equal(bodyOf<Alerts>(first).alerts, []);
    const notifications = observation[Symbol.asyncIterator]();

    for (const atS of [0, 100, 200, 299]) assert.is((await gw.request(n1, 'PUT', '/nodes/n1/health', health(atS, 95))).code, ResponseCode.Changed);
    assert.equal(bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts, [], 'not yet held for 300 s');
    await gw.request(n1, 'PUT', '/nodes/n1/health', health(300, 95));
    const seen = await notificationMatching<Alerts>(notifications, (body) => body.alerts.length > 0);
    await observation.cancel();
    assert.equal(seen.alerts.map((alert) => [alert.node_id, alert.kind, alert.raised_at, alert.cleared_at]), [['n1', 'cpu_high', new Date(T0 + 300_000).toISOString(), null]]);
    const id = seen.alerts[0]!.id;
    await gw.request(n1, 'PUT', '/nodes/n1/health', health(360, 95));
    const cbor = await gw.request(operator, 'GET', '/alerts', undefined, { accept: ContentFormat.Cbor });
    assert.is(cbor.contentFormat, ContentFormat.Cbor);
    assert.is(bodyOf<Alerts>(cbor).alerts.length, 1, 'raised once');

    assert.is((await gw.request(n1, 'GET', '/alerts')).code, ResponseCode.Forbidden, 'alerts are for operators');
    assert.is((await gw.request(n1, 'PUT', `/alerts/${id}`, { acknowledged: true })).code, ResponseCode.Forbidden);
    assert.is((await gw.request(operator, 'PUT', `/alerts/${id}`, { acknowledged: false })).code, ResponseCode.BadRequest);
    assert.is((await gw.request(operator, 'PUT', '/alerts/999', { acknowledged: true })).code, ResponseCode.NotFound);
    assert.is((await gw.request(operator, 'GET', '/alerts', undefined, { query: ['state=old'] })).code, ResponseCode.BadRequest);
    const acked = await gw.request(operator, 'PUT', `/alerts/${id}`, { acknowledged: true });
    assert.is(acked.code, ResponseCode.Changed);
    assert.equal([bodyOf<AlertRecord>(acked).acknowledged_by, bodyOf<AlertRecord>(acked).cleared_at], ['operator:alice', null], 'still over the threshold');
    assert.ok(gw.gateway.store.recentAudit(5).some((entry) => entry.action === 'alert.acknowledge' && entry.who === 'operator:alice'));

    gw = await gw.restart();
    const after = await gw.client('operator:alice');
    const node = await gw.client('node:n1');
    const kept = bodyOf<AlertRecord>(await gw.request(after, 'GET', `/alerts/${id}`));
    assert.equal([kept.kind, kept.acknowledged_by, kept.cleared_at], ['cpu_high', 'operator:alice', null]);
    await gw.request(node, 'PUT', '/nodes/n1/health', health(400, 85));
    assert.is(bodyOf<Alerts>(await gw.request(after, 'GET', '/alerts')).alerts.length, 1, 'between clear_below and the threshold: still raised');
    await gw.request(node, 'PUT', '/nodes/n1/health', health(460, 70));
    assert.equal(bodyOf<Alerts>(await gw.request(after, 'GET', '/alerts')).alerts, [], 'cleared below 80 %');
    const all = bodyOf<Alerts>(await gw.request(after, 'GET', '/alerts', undefined, { query: ['state=all'] })).alerts;
    assert.equal(all.map((alert) => [alert.id, alert.cleared_at]), [[id, new Date(T0 + 460_000).toISOString()]]);
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('a failed update raises at once; acknowledging it clears it', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    assert.is((await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']))).code, ResponseCode.Created);
    assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'failed', progress: 0, error: 'checksum mismatch' })).code, ResponseCode.Changed);
    const [alert] = bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts;
    assert.equal([alert?.kind, alert?.detail], ['update_failed', 'update u1: checksum mismatch']);
    await gw.request(operator, 'PUT', `/alerts/${alert!.id}`, { acknowledged: true });
    assert.equal(bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts, []);
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('a node silent past the offline interval raises node_offline; its return clears it', async () => {
  const gw = await startTestGateway({ health_interval_s: 0.1, offline_after_intervals: 2 });
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    const { observation } = await operator.observe({ peer, path: '/alerts' });
    const notifications = observation[Symbol.asyncIterator]();
    await notificationMatching<Alerts>(notifications, (body) => body.alerts.some((alert) => alert.kind === 'node_offline'));
    await gw.request(n1, 'PUT', '/nodes/n1/health', health(0, 10));
    await notificationMatching<Alerts>(notifications, (body) => body.alerts.length === 0);
    await observation.cancel();
    const kept = bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts', undefined, { query: ['state=all'] })).alerts;
    assert.ok(kept.every((alert) => alert.kind === 'node_offline' && alert.cleared_at !== null));
  } finally {
    await gw.close();
  }
});

test('decommissioning a node clears its active alerts', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    await gw.request(n1, 'PUT', '/nodes/n1/health', { ...health(0, 10), uptime_s: 5000 });
    await gw.request(n1, 'PUT', '/nodes/n1/health', { ...health(60, 10), uptime_s: 30 });
    const [restarted] = bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts;
    assert.equal([restarted?.kind, restarted?.detail], ['node_restarted', 'uptime went from 5000 s to 30 s']);
    assert.is((await gw.request(operator, 'DELETE', '/nodes/n1')).code, ResponseCode.Deleted);
    assert.equal(bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts, []);
    assert.ok(gw.gateway.store.recentAudit(5).some((entry) => entry.action === 'alert.clear'));
  } finally {
    await gw.close();
  }
});

test('a registration from an agent that started at another time raises agent_restarted once; the same start, or none, raises nothing', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    const started = (at: string) => ({ ...registration('n1'), agent_started_at: at });
    await gw.request(n1, 'POST', '/nodes', started('2026-01-01T00:00:00.000Z'));
    await gw.request(n1, 'POST', '/nodes', started('2026-01-01T00:00:00.000Z'));
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    assert.equal(bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts, [], 'periodic registrations of one agent, and one of an earlier release');
    await gw.request(n1, 'POST', '/nodes', started('2026-01-01T00:00:00.000Z'));
    assert.is((await gw.request(n1, 'POST', '/nodes', started('2026-01-01T00:05:00.000Z'))).code, ResponseCode.Changed);
    await gw.request(n1, 'POST', '/nodes', started('2026-01-01T00:05:00.000Z'));
    const alerts = bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts;
    assert.equal(alerts.map((alert) => [alert.kind, alert.severity, alert.detail]), [
      ['agent_restarted', 'warning', 'the agent started again at 2026-01-01T00:05:00.000Z (before: 2026-01-01T00:00:00.000Z)'],
    ]);
    assert.is((await gw.request(n1, 'POST', '/nodes', { ...registration('n1'), agent_started_at: 'yesterday' })).code, ResponseCode.BadRequest);
    const acked = await gw.request(operator, 'PUT', `/alerts/${alerts[0]!.id}`, { acknowledged: true });
    assert.ok(bodyOf<AlertRecord>(acked).cleared_at !== null, 'a past event: cleared by its acknowledgement');
  } finally {
    await gw.close();
  }
});

test.run();
