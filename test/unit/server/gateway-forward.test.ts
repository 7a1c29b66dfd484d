// Operators' requests forwarded by the gateway to a node's agent over the DTLS session the
// agent opened (real DTLS on loopback, a stand-in agent: forwarding-world.ts): GET and POST
// with bodies untouched, the agent's code, format and Max-Age passed back, 4.04 for an
// unknown node, 5.04 at once without a session and within the bound without an answer,
// 5.02 for garbage, the cache (hits, expiry on the gateway's clock, writes drop it), the
// audit of writes, and the access table (operators only; a node reaches no node).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { decodeCbor } from '../../../src/fleet/cbor.js';
import { bodyOf, eventually, unexpectedLogs } from './gateway-harness.js';
import { forwardingWorld, type ForwardingWorld } from './forwarding-world.js';
import { waitFor } from '../../helpers/wait.js';

async function withWorld(run: (world: ForwardingWorld) => Promise<void>, overrides = {}): Promise<void> {
  const world = await forwardingWorld(overrides);
  try {
    await run(world);
    assert.equal(unexpectedLogs(world.logs), [], 'no unexpected warn or error log lines');
  } finally {
    await world.close();
  }
}

test('an operator reads a node\'s services and posts a command: forwarded over the node\'s session, the body untouched, audited', () => withWorld(async (world) => {
  const agent = await world.agent('n1');
  const alice = await world.client('operator:alice');
  const services = await world.request(alice, 'GET', '/nodes/n1/services');
  assert.is(services.code, ResponseCode.Content);
  assert.is(services.contentFormat, ContentFormat.Json);
  assert.equal(bodyOf(services), { services: [{ name: 'nginx', state: 'active' }] });
  const cbor = await world.request(alice, 'GET', '/nodes/n1/services/nginx', { accept: ContentFormat.Cbor, query: ['verbose=1'] });
  assert.is(cbor.contentFormat, ContentFormat.Cbor, 'Accept passed through');
  assert.equal(decodeCbor(cbor.payload), { name: 'nginx' });
  assert.is(agent.count('GET /services/nginx?verbose=1'), 1, 'the query went along');

  // A signed envelope is opaque to the gateway: whatever bytes come go on as they are.
  const envelope = Buffer.from(JSON.stringify({ v: 1, node_id: 'n1', action: 'service.restart', args: { name: 'nginx' }, signature: 'x' }));
  const posted = await world.request(alice, 'POST', '/nodes/n1/services/nginx', { payload: envelope, contentFormat: ContentFormat.Json });
  assert.is(posted.code, ResponseCode.Changed);
  assert.equal(bodyOf(posted), { ok: true, path: '/services/nginx' });
  const config = Buffer.from([0xa1, 0x69, ...Buffer.from('log_level'), 0x65, ...Buffer.from('debug')]);
  assert.is((await world.request(alice, 'PUT', '/nodes/n1/system/config', { payload: config, contentFormat: ContentFormat.Cbor })).code, ResponseCode.Changed);
  assert.equal(agent.bodies.map((body) => [body.path, body.payload.toString('hex'), body.contentFormat]), [
    ['/services/nginx', envelope.toString('hex'), ContentFormat.Json],
    ['/system/config', config.toString('hex'), ContentFormat.Cbor],
  ]);
  const forwards = (): string[] => world.gateway.store.recentAudit(20).filter((entry) => entry.action === 'node.forward')
    .map((entry) => `${entry.who} ${entry.target} ${entry.detail}`).sort();
  await eventually(() => forwards().length === 2);
  assert.equal(forwards(), [
    'operator:alice /nodes/n1/services/nginx POST service.restart: 2.04 Changed',
    'operator:alice /nodes/n1/system/config PUT: 2.04 Changed',
  ]);
}));

test('unknown node 4.04; a registered node without a session 5.04 at once; one that never answers 5.04 within the bound', () => withWorld(async (world) => {
  const agent = await world.agent('n1');
  const local = await world.local();
  assert.is((await world.request(local, 'POST', '/nodes', { payload: JSON.stringify({ node_id: 'n9', version: '1', hardware: 'x', agent_port: 0 }), contentFormat: ContentFormat.Json })).code, ResponseCode.Created);
  const alice = await world.client('operator:alice');
  assert.is((await world.request(alice, 'GET', '/nodes/n7/services')).code, ResponseCode.NotFound);

  let started = Date.now();
  const noSession = await world.request(alice, 'GET', '/nodes/n9/services');
  assert.is(noSession.code, ResponseCode.GatewayTimeout);
  assert.match(noSession.payload.toString(), 'node n9 has no session');
  assert.ok(Date.now() - started < 300, `5.04 at once, not after the ${400} ms bound: ${Date.now() - started} ms`);

  agent.behaviour.silent = true;
  started = Date.now();
  const silent = await world.request(alice, 'POST', '/nodes/n1/system/restart', { payload: '{}', contentFormat: ContentFormat.Json });
  const took = Date.now() - started;
  assert.is(silent.code, ResponseCode.GatewayTimeout);
  assert.match(silent.payload.toString(), 'node n1 did not answer');
  assert.ok(took >= 400 && took < 5000, `within the 400 ms bound: ${took} ms`);
  assert.is(agent.count('POST /system/restart'), 1);
  await eventually(() => world.gateway.store.recentAudit(10).some((entry) => entry.action === 'node.forward' && entry.detail === 'POST: 5.04 Gateway Timeout'));
}, { node_timeout_ms: 400 }));

test('a node gone silent (offline) is 5.04 at once, not after the bound: its session is given up; its next request links it again', async () => {
  // A sweep every 50 ms on the gateway's clock, which only the test moves.
  const world = await forwardingWorld({ health_interval_s: 0.05 });
  try {
    const agent = await world.agent('n1');
    const alice = await world.client('operator:alice');
    assert.is((await world.request(alice, 'GET', '/nodes/n1/services')).code, ResponseCode.Content);
    // The agent dies as kill -9 leaves it: its session stays, nothing answers on it.
    agent.behaviour.silent = true;
    world.clock.ms += 60_000;
    await waitFor('n1 offline', () => world.logs.some((line) => line.msg === 'node offline'));
    const started = Date.now();
    const offline = await world.request(alice, 'GET', '/nodes/n1/services', { query: ['after=offline'] });
    const took = Date.now() - started;
    assert.is(offline.code, ResponseCode.GatewayTimeout);
    assert.match(offline.payload.toString(), 'node n1 has no session');
    assert.ok(took < 300, `5.04 at once, not after the 10 s bound: ${took} ms`);
    assert.is(agent.count('GET /services?after=offline'), 0, 'nothing sent over the given-up session');

    // Back: its next request (a health report) links the node again.
    agent.behaviour.silent = false;
    const health = { status: 'healthy', cpu_percent: 5, memory_percent: 20, temperature: null, uptime_s: 60, timestamp: new Date(world.clock.ms).toISOString() };
    assert.is((await world.request(agent.endpoint, 'PUT', '/nodes/n1/health', { payload: JSON.stringify(health), contentFormat: ContentFormat.Json })).code, ResponseCode.Changed);
    assert.is((await world.request(alice, 'GET', '/nodes/n1/services', { query: ['after=back'] })).code, ResponseCode.Content);
    assert.is(agent.count('GET /services?after=back'), 1);
    assert.equal(unexpectedLogs(world.logs, ['node offline']), []);
  } finally {
    await world.close();
  }
});

test('a payload that is not the JSON it claims is 5.02 Bad Gateway with a diagnostic, and not cached', () => withWorld(async (world) => {
  const agent = await world.agent('n1');
  const alice = await world.client('operator:alice');
  agent.behaviour.garbage = true;
  const bad = await world.request(alice, 'GET', '/nodes/n1/system/config');
  assert.is(bad.code, ResponseCode.BadGateway);
  assert.match(bad.payload.toString(), 'node n1 answered badly: the payload is not the JSON it claims to be');
  agent.behaviour.garbage = false;
  assert.equal(bodyOf(await world.request(alice, 'GET', '/nodes/n1/system/config')), { log_level: 'info' });
  assert.is(agent.count('GET /system/config'), 2);
}));

test('forwarded GETs are cached for their Max-Age on the gateway\'s clock, keyed by query and Accept; a write drops the node\'s entries', () => withWorld(async (world) => {
  const agent = await world.agent('n1');
  const alice = await world.client('operator:alice');
  const bob = await world.client('operator:bob');
  agent.behaviour.maxAge = 30;
  const first = await world.request(alice, 'GET', '/nodes/n1/services');
  assert.is(getUintOption(first.options, OptionNumber.MaxAge), 30);
  world.clock.ms += 10_500;
  const cached = await world.request(bob, 'GET', '/nodes/n1/services');
  assert.is(cached.code, ResponseCode.Content);
  assert.equal(bodyOf(cached), bodyOf(first));
  assert.is(getUintOption(cached.options, OptionNumber.MaxAge), 19, 'the freshness left');
  assert.is(agent.count('GET /services'), 1, 'served from the cache');
  await world.request(alice, 'GET', '/nodes/n1/services', { accept: ContentFormat.Cbor });
  await world.request(alice, 'GET', '/nodes/n1/services', { query: ['state=active'] });
  assert.is(agent.count('GET /services') + agent.count('GET /services?state=active'), 3, 'Accept and query are part of the key');
  world.clock.ms += 20_000;
  await world.request(alice, 'GET', '/nodes/n1/services');
  assert.is(agent.count('GET /services'), 3, 'expired after its Max-Age: asked again');
  await world.request(alice, 'POST', '/nodes/n1/services/nginx', { payload: '{}', contentFormat: ContentFormat.Json });
  await world.request(alice, 'GET', '/nodes/n1/services');
  assert.is(agent.count('GET /services'), 4, 'a POST to the node dropped its cached responses');
  agent.behaviour.maxAge = 0;
  await world.request(alice, 'GET', '/nodes/n1/services/nginx');
  await world.request(alice, 'GET', '/nodes/n1/services/nginx');
  assert.is(agent.count('GET /services/nginx'), 2, 'Max-Age 0 is never cached');
}));

test('GETs for the same representation while one is out to the agent share its answer', () => withWorld(async (world) => {
  const agent = await world.agent('n1');
  const alice = await world.client('operator:alice');
  const bob = await world.client('operator:bob');
  agent.behaviour.maxAge = 0;
  let release!: () => void;
  agent.behaviour.hold = new Promise((resolve) => { release = resolve; });
  const answers = Promise.all([world.request(alice, 'GET', '/nodes/n1/services'), world.request(bob, 'GET', '/nodes/n1/services')]);
  await waitFor('both requests at the gateway', () => world.gateway.router.inFlight === 2);
  release();
  const [a, b] = await answers;
  assert.equal([a.code, b.code], [ResponseCode.Content, ResponseCode.Content]);
  assert.equal(bodyOf(a), bodyOf(b));
  assert.is(agent.count('GET /services'), 1, 'one request to the agent');
  await world.request(alice, 'GET', '/nodes/n1/services');
  assert.is(agent.count('GET /services'), 2, 'Max-Age 0: not cached, so asked again once the first settled');
}));

test('nodes reach no node through the gateway, not even their own; operators only', () => withWorld(async (world) => {
  await world.agent('n1');
  const n2 = await world.agent('n2');
  for (const [method, path] of [
    ['GET', '/nodes/n1/services'], ['GET', '/nodes/n2/services'], ['GET', '/nodes/n1/logs'], ['POST', '/nodes/n1/services/nginx'],
    ['GET', '/nodes/n1/system/config'], ['PUT', '/nodes/n2/system/config'], ['POST', '/nodes/n1/system/restart'], ['POST', '/nodes/n2/system/shutdown'],
  ] as const) {
    const response = await world.request(n2.endpoint, method, path, method === 'GET' ? {} : { payload: '{}', contentFormat: ContentFormat.Json });
    assert.is(response.code, ResponseCode.Forbidden, `${method} ${path}`);
  }
  await eventually(() => world.gateway.store.recentAudit(20).filter((entry) => entry.action === 'access.denied' && entry.who === 'node:n2').length === 8);
}));

test.run();
