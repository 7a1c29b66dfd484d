// The gateway's metrics history over real UDP with simulated DTLS identities and a real
// LMDB, on a virtual clock for what ages: a node PUTs its own samples (a sample or a view)
// and nobody else's; GET ?since= and ?limit=; observers hear each new sample; the history is
// thinned with age and capped, survives a restart and goes with a decommission; disk alerts
// per mount, with the thresholds from the config.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MetricsView } from '../../../src/fleet/node-views.js';
import { decodeBody } from '../../../src/fleet/payload.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { AlertRecord } from '../../../src/server/alert-rules.js';
import { METRICS_CAP_PER_NODE, samplesToDrop } from '../../../src/server/metrics-tiers.js';
import { bodyOf, metricsSample as sample, notificationMatching, startTestGateway, unexpectedLogs } from './gateway-harness.js';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const registration = (id: string) => ({ node_id: id, version: '1.0.0', hardware: 'cortex-a55', agent_port: 0 });

const timesOf = (view: MetricsView): number[] => view.samples.map((each) => Date.parse(each.at));
type Alerts = { alerts: AlertRecord[] };

test('a node PUTs its own metrics, a sample or a view; operators and the node read them; others are refused', async () => {
  const gw = await startTestGateway({}, undefined, { now: () => new Date(T0) });
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    const n2 = await gw.client('node:n2');
    const n3 = await gw.client('node:n3');
    for (const [client, id] of [[n1, 'n1'], [n2, 'n2']] as const) await gw.request(client, 'POST', '/nodes', registration(id));

    assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(T0 - 30_000))).code, ResponseCode.Changed);
    const view: MetricsView = { node_id: 'n1', interval_s: 10, samples: [sample(T0 - 20_000), sample(T0 - 10_000)] };
    assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', view)).code, ResponseCode.Changed);
    assert.is((await gw.request(n2, 'PUT', '/nodes/n1/metrics', sample(T0))).code, ResponseCode.Forbidden, 'not another node\'s');
    assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', { ...view, node_id: 'n2' })).code, ResponseCode.BadRequest);
    assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', { ...sample(T0), cpu_percent: 140 })).code, ResponseCode.BadRequest);
    assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', { ...sample(T0), disks: 'full' })).code, ResponseCode.BadRequest);
    assert.is((await gw.request(n3, 'PUT', '/nodes/n3/metrics', sample(T0))).code, ResponseCode.NotFound, 'register first');

    const read = await gw.request(operator, 'GET', '/nodes/n1/metrics');
    assert.is(read.code, ResponseCode.Content);
    const shown = bodyOf<MetricsView>(read);
    assert.equal([shown.node_id, shown.interval_s, timesOf(shown)], ['n1', 10, [T0 - 30_000, T0 - 20_000, T0 - 10_000]]);
    assert.equal(shown.samples[0], sample(T0 - 30_000), 'stored as sent');
    assert.is((await gw.request(n1, 'GET', '/nodes/n1/metrics')).code, ResponseCode.Content, 'the node itself');
    assert.is((await gw.request(n2, 'GET', '/nodes/n1/metrics')).code, ResponseCode.Forbidden);
    assert.is((await gw.request(operator, 'GET', '/nodes/n9/metrics')).code, ResponseCode.NotFound);
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('GET ?since= (RFC 3339 or epoch ms, default the last hour) and ?limit= (the newest N); bad ones are 4.00', async () => {
  const gw = await startTestGateway({}, undefined, { now: () => new Date(T0) });
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    const times = [T0 - 2 * 3_600_000, T0 - 3_000_000, T0 - 60_000, T0 - 30_000];
    await gw.request(n1, 'PUT', '/nodes/n1/metrics', { node_id: 'n1', interval_s: 30, samples: times.map((at) => sample(at)) });
    const get = async (query: string[]) => timesOf(bodyOf<MetricsView>(await gw.request(operator, 'GET', '/nodes/n1/metrics', undefined, { query })));
    assert.equal(await get([]), times.slice(1), 'the last hour');
    assert.equal(await get(['since=0']), times);
    assert.equal(await get([`since=${T0 - 60_000}`]), [T0 - 30_000], 'after the instant, not at it');
    assert.equal(await get([`since=${new Date(T0 - 3_600_000).toISOString()}`]), times.slice(1));
    assert.equal(await get(['since=2026-01-01T11:59:00+00:00']), [T0 - 30_000]);
    assert.equal(await get(['since=0', 'limit=2']), times.slice(2), 'the newest two, oldest first');
    for (const query of [['since=yesterday'], ['since=2026-01-01'], ['since=-5'], ['limit=0'], ['limit=2001'], ['limit=two']]) {
      assert.is((await gw.request(operator, 'GET', '/nodes/n1/metrics', undefined, { query })).code, ResponseCode.BadRequest, query[0]);
    }
  } finally {
    await gw.close();
  }
});

test('observers of /nodes/{id}/metrics hear each new sample', async () => {
  const gw = await startTestGateway({}, undefined, { now: () => new Date(T0) });
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
    const { observation, first } = await operator.observe({ peer, path: '/nodes/n1/metrics', query: ['limit=1'] });
    assert.equal(bodyOf<MetricsView>(first).samples, []);
    const notifications = observation[Symbol.asyncIterator]();
    await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(T0 - 10_000));
    const heard = await notificationMatching<MetricsView>(notifications, (view) => view.samples.length === 1);
    assert.equal(timesOf(heard), [T0 - 10_000]);
    await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(T0 - 5_000));
    await notificationMatching<MetricsView>(notifications, (view) => timesOf(view)[0] === T0 - 5_000);
    await observation.cancel();
  } finally {
    await gw.close();
  }
});

test('the history is thinned with age, kept across a restart, and removed with the node', async () => {
  let now = T0;
  let gw = await startTestGateway({}, undefined, { now: () => new Date(now) });
  try {
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    // Two hours every 10 s, in views of 90 samples (a body stays under 64 KiB).
    const sent: number[] = [];
    for (let at = T0 - 2 * 3_600_000 + 10_000; at <= T0; at += 10_000) sent.push(at);
    for (let index = 0; index < sent.length; index += 90) {
      const samples = sent.slice(index, index + 90).map((at) => sample(at));
      assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', { node_id: 'n1', interval_s: 10, samples })).code, ResponseCode.Changed);
    }
    // A minute on, the next sample thins the history as the tiers say at that time.
    now = T0 + 61_000;
    await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(now));
    const all = [...sent, now];
    const dropped = new Set(samplesToDrop(all, now));
    const expected = all.filter((at) => !dropped.has(at));
    assert.ok(expected.length < 400 && expected.length > 360, `${expected.length}: the last hour whole, the hour before at 5 minutes`);
    assert.equal(gw.gateway.store.metricsTimes('n1'), expected);

    gw = await gw.restart();
    const operator = await gw.client('operator:alice');
    const again = await gw.client('node:n1');
    const whole = await gw.request(operator, 'GET', '/nodes/n1/metrics', undefined, { query: ['since=0'] });
    const view = decodeBody(whole.payload, whole.contentFormat, 1024 * 1024) as MetricsView;
    assert.equal(timesOf(view), expected, 'kept across the restart');
    assert.is(view.interval_s, 61, 'after a restart, before a view says: the gap between the newest two');

    assert.is((await gw.request(operator, 'DELETE', '/nodes/n1')).code, ResponseCode.Deleted);
    assert.equal(gw.gateway.store.metricsTimes('n1'), []);
    await gw.request(again, 'POST', '/nodes', registration('n1'));
    assert.equal(bodyOf<MetricsView>(await gw.request(operator, 'GET', '/nodes/n1/metrics', undefined, { query: ['since=0'] })).samples, [], 'a new node starts afresh');
  } finally {
    await gw.close();
  }
});

test('a node keeps at most 2000 samples, the newest', async () => {
  let now = T0;
  const gw = await startTestGateway({}, undefined, { now: () => new Date(now) });
  try {
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    // Samples from a clock ahead of the gateway's: all "new", so only the cap thins them.
    const sent = Array.from({ length: 2100 }, (_, index) => T0 + index * 5_000);
    for (let index = 0; index < sent.length; index += 90) {
      const samples = sent.slice(index, index + 90).map((at) => sample(at));
      assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', { node_id: 'n1', interval_s: 5, samples })).code, ResponseCode.Changed);
    }
    now += 61_000;
    await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(sent.at(-1)! + 5_000));
    assert.equal(gw.gateway.store.metricsTimes('n1'), [...sent, sent.at(-1)! + 5_000].slice(-METRICS_CAP_PER_NODE));
  } finally {
    await gw.close();
  }
});

test('a mount over the disk threshold for its duration raises one alert per mount; it clears below the clear level', async () => {
  const gw = await startTestGateway({}, undefined, { now: () => new Date(T0) });
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    const at = (seconds: number) => T0 + seconds * 1000;
    const active = async () => bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts.map((alert) => [alert.kind, alert.mount]);
    const put = async (seconds: number, disks: Record<string, number>) => {
      assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(at(seconds), disks))).code, ResponseCode.Changed);
    };
    for (const seconds of [0, 100, 200, 299]) await put(seconds, { '/': 95, '/data': 50 });
    assert.equal(await active(), [], 'not yet for 300 s');
    await put(300, { '/': 95, '/data': 97 });
    assert.equal(await active(), [['disk_high', '/']]);
    await put(600, { '/': 88, '/data': 97 });
    assert.equal(await active(), [['disk_high', '/data'], ['disk_high', '/']], 'between the clear level and the threshold: / stays raised');
    await put(660, { '/': 80, '/data': 97 });
    assert.equal(await active(), [['disk_high', '/data']], 'cleared below 85 %');
    await put(720, { '/': 80 });
    assert.equal(await active(), [], 'a mount gone clears its own');
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('the disk rule comes from the config: a lower threshold, no duration', async () => {
  const gw = await startTestGateway({ alert_disk_percent: 50, alert_disk_for_s: 0, alert_disk_clear_percent: 45 }, undefined, { now: () => new Date(T0) });
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration('n1'));
    assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', sample(T0, { '/': 60 }))).code, ResponseCode.Changed);
    const [alert] = bodyOf<Alerts>(await gw.request(operator, 'GET', '/alerts')).alerts;
    assert.equal([alert?.kind, alert?.mount, alert?.detail], ['disk_high', '/', `disk / used_percent 60 > 50 since ${new Date(T0).toISOString()}`]);
  } finally {
    await gw.close();
  }
});

test.run();
