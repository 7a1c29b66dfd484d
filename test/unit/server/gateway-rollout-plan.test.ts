// The gateway's side of the rollout plan (issue 13) over real UDP and a real LMDB, on a
// clock the test moves: waves open in order after their bake time, also across a restart
// mid-bake; a node outside its maintenance window is told (5.03, Max-Age) to come back when
// it opens, its download untouched; the signed plan cannot be changed, pause and resume
// still work; tags come with a registration or from an operator, filter GET /nodes, persist.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import type { StatusView } from '../../../src/fleet/views.js';
import {
  bodyOf, manifestFor, metricsSample, notificationMatching, startTestGateway, unexpectedLogs, type TestGateway,
} from './gateway-harness.js';

const OPERATOR = 'operator:alice';
// Monday 2026-12-07 12:00 UTC.
const T0 = Date.UTC(2026, 11, 7, 12);

function clock(): { now: () => Date; advance(seconds: number): void } {
  let time = T0;
  return { now: () => new Date(time), advance: (seconds) => { time += seconds * 1000; } };
}

const ready = async (gw: TestGateway, node: string): Promise<void> => {
  const client = await gw.client(`node:${node}`);
  for (const state of ['downloading', 'downloaded']) assert.is((await gw.request(client, 'PUT', '/updates/u1/status', { state, progress: 1 })).code, ResponseCode.Changed);
};

test('waves open in order only after the wave before ended and baked, across a restart mid-bake', async () => {
  const time = clock();
  let gw = await startTestGateway({}, undefined, { now: time.now });
  try {
    const operator = await gw.client(OPERATOR);
    const targets = ['n1', 'n2', 'n3', 'n4'];
    const manifest = manifestFor('u1', targets, { policyVersion: 2, policy: { max_parallel_installs: 4, failure_threshold: 4, waves: ['1', '50%', '100%'], bake_s: 600 } });
    assert.is((await gw.request(operator, 'POST', '/updates', manifest)).code, ResponseCode.Created);
    for (const node of targets) await ready(gw, node);
    const ask = async (node: string) => gw.request(await gw.client(`node:${node}`), 'POST', '/updates/u1/install');
    assert.is((await ask('n1')).code, ResponseCode.Changed, 'wave 1');
    const early = await ask('n2');
    assert.is(early.code, ResponseCode.ServiceUnavailable);
    assert.is(getUintOption(early.options, OptionNumber.MaxAge), 10);
    assert.is((await gw.request(await gw.client('node:n1'), 'PUT', '/updates/u1/status', { state: 'installed', progress: 1 })).code, ResponseCode.Changed);
    time.advance(200);
    const baking = await ask('n2');
    assert.is(baking.code, ResponseCode.ServiceUnavailable);
    assert.is(getUintOption(baking.options, OptionNumber.MaxAge), 400, 'the bake time left');
    const view = bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status'));
    assert.equal(view.waves!.map((wave) => wave.state), ['baking', 'waiting', 'waiting']);

    gw = await gw.restart();
    time.advance(399);
    assert.is((await ask('n2')).code, ResponseCode.ServiceUnavailable, 'one second of bake left after the restart');
    time.advance(1);
    assert.is((await ask('n2')).code, ResponseCode.Changed, 'wave 2 opens once baked');
    assert.is((await ask('n3')).code, ResponseCode.ServiceUnavailable, 'wave 3 waits for wave 2');
    const detail = bodyOf<{ waves: { state: string; targets: number }[] }>(await gw.request(await gw.client(OPERATOR), 'GET', '/updates/u1'));
    assert.equal(detail.waves.map((wave) => [wave.state, wave.targets]), [['done', 1], ['open', 1], ['waiting', 2]]);
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('observers of the status hear when a wave\'s bake ends, with no request at that moment', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client(OPERATOR);
    const n1 = await gw.client('node:n1');
    const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2'], { policyVersion: 2, policy: { waves: ['1'], bake_s: 1 } }));
    const { observation } = await operator.observe({ peer, path: '/updates/u1/status' });
    const notifications = observation[Symbol.asyncIterator]();
    await ready(gw, 'n1');
    await gw.request(n1, 'POST', '/updates/u1/install');
    await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'installed', progress: 1 });
    await notificationMatching<StatusView>(notifications, (view) => view.waves![0]!.state === 'baking');
    const done = await notificationMatching<StatusView>(notifications, (view) => view.waves![0]!.state === 'done', 5000);
    assert.equal(done.waves!.map((wave) => wave.state), ['done', 'open']);
    observation.forget();
  } finally {
    await gw.close();
  }
});

test('a per-wave failure threshold aborts the rollout: the next wave is refused for good', async () => {
  const gw = await startTestGateway({}, undefined, { now: clock().now });
  try {
    const operator = await gw.client(OPERATOR);
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2', 'n3'], {
      policyVersion: 2, policy: { max_parallel_installs: 3, failure_threshold: 3, waves: ['1'], wave_failure_threshold: 1 },
    }));
    const n1 = await gw.client('node:n1');
    await ready(gw, 'n1');
    await gw.request(n1, 'POST', '/updates/u1/install');
    assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'rolled_back', error: 'health check failed' })).code, ResponseCode.Changed);
    assert.is(bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status')).rollout, 'aborted');
    await ready(gw, 'n2');
    assert.is((await gw.request(await gw.client('node:n2'), 'POST', '/updates/u1/install')).code, ResponseCode.Forbidden);
  } finally {
    await gw.close();
  }
});

test('outside its window a node downloads but is told to install when the window opens; its group\'s window counts; the plan cannot be changed, pause and resume can', async () => {
  const time = clock();
  const gw = await startTestGateway({}, undefined, { now: time.now });
  try {
    const operator = await gw.client(OPERATOR);
    const n1 = await gw.client('node:n1');
    const n2 = await gw.client('node:n2');
    assert.is((await gw.request(n2, 'POST', '/nodes', { node_id: 'n2', version: '1.0.0', tags: ['lisbon'] })).code, ResponseCode.Created);
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2'], {
      policyVersion: 2,
      policy: { max_parallel_installs: 2, window: 'Mon-Fri 13:00-14:00 Europe/Berlin', group_windows: { lisbon: 'daily 10:30-11:30 Europe/Lisbon' } },
    }));
    await ready(gw, 'n1');
    // 12:00 UTC is 13:00 in Berlin: inside, so one hour before, outside.
    time.advance(-3600);
    const outside = await gw.request(n1, 'POST', '/updates/u1/install');
    assert.is(outside.code, ResponseCode.ServiceUnavailable);
    assert.is(getUintOption(outside.options, OptionNumber.MaxAge), 3600, 'Max-Age reaches the window');
    assert.match(outside.payload.toString(), 'maintenance window');
    await ready(gw, 'n2');
    assert.is((await gw.request(n2, 'POST', '/updates/u1/install')).code, ResponseCode.Changed, 'n2\'s group window (Lisbon 11:00-12:30) is open');

    const edit = await gw.request(operator, 'PUT', '/updates/u1', { policy: { window: 'daily 00:00-24:00 UTC' } });
    assert.is(edit.code, ResponseCode.BadRequest);
    assert.match(edit.payload.toString(), 'signed');
    assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'paused', policy: { max_parallel_installs: 1 } })).code, ResponseCode.Changed);
    time.advance(3600);
    assert.is((await gw.request(n1, 'POST', '/updates/u1/install')).code, ResponseCode.ServiceUnavailable, 'paused');
    assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'active', policy: { max_parallel_installs: 2 } })).code, ResponseCode.Changed);
    assert.is((await gw.request(n1, 'POST', '/updates/u1/install')).code, ResponseCode.Changed, 'inside the window, resumed');
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('tags: set at registration and by an operator (not by a node), kept when the node registers again, filtered with ?tag=, kept over a restart', async () => {
  let gw = await startTestGateway();
  try {
    const operator = await gw.client(OPERATOR);
    const n1 = await gw.client('node:n1');
    const n2 = await gw.client('node:n2');
    await gw.request(n1, 'POST', '/nodes', { node_id: 'n1', version: '1.0.0', tags: ['berlin', 'lab'] });
    await gw.request(n2, 'POST', '/nodes', { node_id: 'n2', version: '1.0.0' });
    assert.is((await gw.request(operator, 'PUT', '/nodes/n2', { tags: ['berlin'] })).code, ResponseCode.Changed);
    assert.is((await gw.request(operator, 'PUT', '/nodes/n1', { tags: ['berlin'] })).code, ResponseCode.Changed, 'lab removed');
    assert.is((await gw.request(n1, 'PUT', '/nodes/n1', { tags: [] })).code, ResponseCode.Forbidden, 'a node does not set its tags this way');
    assert.is((await gw.request(operator, 'PUT', '/nodes/n1', { tags: ['no spaces'] })).code, ResponseCode.BadRequest);
    assert.is((await gw.request(operator, 'PUT', '/nodes/nx', { tags: ['a'] })).code, ResponseCode.NotFound);
    await gw.request(n1, 'POST', '/nodes', { node_id: 'n1', version: '1.0.1', tags: ['berlin', 'lab'] });
    const ids = async (tag: string): Promise<string[]> => bodyOf<{ nodes: { node_id: string }[] }>(
      await gw.request(await gw.client(OPERATOR), 'GET', '/nodes', undefined, { query: [`tag=${tag}`] })).nodes.map((node) => node.node_id);
    assert.equal(await ids('berlin'), ['n1', 'n2']);
    assert.equal(await ids('lab'), [], 'the operator\'s removal stands when the node registers with the same tags');
    gw = await gw.restart();
    assert.equal(await ids('berlin'), ['n1', 'n2']);
    const audit = gw.gateway.store.recentAudit(50).filter((entry) => entry.action === 'node.tags');
    assert.is(audit.length, 2);
  } finally {
    await gw.close();
  }
});

test('a health-gated wave: a node whose CPU jumps after its install pauses the rollout with the evidence; resume lets the next wave go', async () => {
  const time = clock();
  const gw = await startTestGateway({}, undefined, { now: time.now });
  try {
    const operator = await gw.client(OPERATOR);
    const n1 = await gw.client('node:n1');
    for (const node of ['n1', 'n2']) await gw.request(await gw.client(`node:${node}`), 'POST', '/nodes', { node_id: node, version: '1.0.0' });
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2'], {
      policyVersion: 2, policy: { max_parallel_installs: 2, waves: ['1'], bake_s: 60, health_gate: { cpu_margin_percent: 20, baseline_s: 300 } },
    }));
    const push = async (seconds: number, cpu: number): Promise<void> => {
      const body = { ...metricsSample(T0 + seconds * 1000), cpu_percent: cpu };
      assert.is((await gw.request(n1, 'PUT', '/nodes/n1/metrics', body)).code, ResponseCode.Changed);
    };
    for (const seconds of [-240, -180, -120, -60]) await push(seconds, 10);
    await ready(gw, 'n1');
    assert.is((await gw.request(n1, 'POST', '/updates/u1/install')).code, ResponseCode.Changed);
    time.advance(10);
    await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'installed', progress: 1 });
    for (const seconds of [20, 40, 60]) await push(seconds, 70);
    time.advance(70);
    await ready(gw, 'n2');
    const n2 = await gw.client('node:n2');
    const stopped = await gw.request(n2, 'POST', '/updates/u1/install');
    assert.is(stopped.code, ResponseCode.ServiceUnavailable);
    assert.match(stopped.payload.toString(), 'paused');
    const view = bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status'));
    assert.is(view.rollout, 'paused');
    assert.equal({ ...view.health_breach, at: undefined }, { wave: 1, node: 'n1', figure: 'cpu_percent', baseline: 10, observed: 70, limit: 30, action: 'pause', at: undefined });
    assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'active' })).code, ResponseCode.Changed);
    assert.is((await gw.request(n2, 'POST', '/updates/u1/install')).code, ResponseCode.Changed, 'the operator let the wave through');
    assert.is(bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status')).health_breach, undefined);
    assert.ok(gw.gateway.store.recentAudit(30).some((entry) => entry.action === 'rollout.health_pause' && /n1 cpu_percent 70 against 10/.test(entry.detail ?? '')));
    assert.equal(unexpectedLogs(gw.logs, ['request denied', 'health gate: rollout paused']), []);
  } finally {
    await gw.close();
  }
});

test.run();
