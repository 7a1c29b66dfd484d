// One upstream observation shared by every operator observing the same node resource
// (RFC 7641 §1.2; real DTLS on loopback, a stand-in agent: forwarding-world.ts): two
// operators cause one observation at the agent, both hear each notification, a plain GET
// meanwhile comes from the cache, the upstream is cancelled when the last operator leaves,
// and when the node's session ends the operators' last notification is 5.04.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { waitFor } from '../../helpers/wait.js';
import { bodyOf, notificationMatching, unexpectedLogs } from './gateway-harness.js';
import { forwardingWorld } from './forwarding-world.js';

type Logs = { lines: string[] };

test('two operators observing one node\'s logs: one upstream observation, both notified, cancelled when both leave', async () => {
  const world = await forwardingWorld();
  try {
    const agent = await world.agent('n1');
    const alice = await world.client('operator:alice');
    const bob = await world.client('operator:bob');
    const a = await alice.observe({ peer: world.coaps, path: '/nodes/n1/logs', timeoutMs: 20_000 });
    const b = await bob.observe({ peer: world.coaps, path: '/nodes/n1/logs', timeoutMs: 20_000 });
    for (const { first } of [a, b]) {
      assert.is(first.code, ResponseCode.Content);
      assert.ok(getUintOption(first.options, OptionNumber.Observe) !== undefined, 'registered');
      assert.equal(bodyOf<Logs>(first).lines, ['line 0']);
    }
    assert.is(agent.endpoint.observers('/logs'), 1, 'one upstream observation');
    assert.is(agent.count('GET /logs'), 1);
    assert.is(world.gateway.router.observers('/nodes/n1/logs'), 2);

    agent.log();
    for (const { observation } of [a, b]) {
      await notificationMatching<Logs>(observation[Symbol.asyncIterator](), (body) => body.lines[0] === 'line 1');
    }
    // The agent rendered its resource twice: the registration and the one notification.
    assert.is(agent.count('GET /logs'), 2);
    const plain = await world.request(await world.local(), 'GET', '/nodes/n1/logs');
    assert.equal(bodyOf<Logs>(plain).lines, ['line 1'], 'the notification updated the cached representation');
    assert.is(agent.count('GET /logs'), 2, 'the plain GET came from the cache');

    await a.observation.cancel();
    assert.is(world.gateway.router.observers('/nodes/n1/logs'), 1);
    assert.is(agent.endpoint.observers('/logs'), 1, 'bob still observes');
    await b.observation.cancel();
    await waitFor('the upstream observation cancelled', () => agent.endpoint.observers('/logs') === 0);
    assert.equal(unexpectedLogs(world.logs), []);
  } finally {
    await world.close();
  }
});

test('a notification that is not the JSON it claims ends the operators\' observations with 5.02, and the upstream one', async () => {
  const world = await forwardingWorld();
  try {
    const agent = await world.agent('n1');
    const alice = await world.client('operator:alice');
    const { observation } = await alice.observe({ peer: world.coaps, path: '/nodes/n1/logs', timeoutMs: 20_000 });
    agent.behaviour.garbage = true;
    agent.log();
    const last = await observation[Symbol.asyncIterator]().next() as IteratorResult<CoapResponse>;
    assert.is(last.value.code, ResponseCode.BadGateway);
    assert.match(last.value.payload.toString(), 'not the JSON it claims');
    await waitFor('the upstream observation cancelled', () => agent.endpoint.observers('/logs') === 0);
  } finally {
    await world.close();
  }
});

test('an agent that never answers the registration: the operator\'s observation is 5.04 within one bound, not after retries', async () => {
  const world = await forwardingWorld({ node_timeout_ms: 1000 });
  try {
    const agent = await world.agent('n1');
    const alice = await world.client('operator:alice');
    agent.behaviour.silent = true;
    const started = Date.now();
    const { first } = await alice.observe({ peer: world.coaps, path: '/nodes/n1/logs', timeoutMs: 20_000 });
    const took = Date.now() - started;
    assert.is(first.code, ResponseCode.GatewayTimeout);
    assert.match(first.payload.toString(), 'node n1 did not answer');
    // Four attempts of the observe client would take 4 s.
    assert.ok(took >= 1000 && took < 3000, `within the 1000 ms bound: ${took} ms`);
    assert.is(agent.count('GET /logs'), 1, 'asked once');
  } finally {
    await world.close();
  }
});

test('upstream observations are bounded per node: the ninth of one node is 5.03', async () => {
  const world = await forwardingWorld();
  try {
    const agent = await world.agent('n1');
    const alice = await world.client('operator:alice');
    const bob = await world.client('operator:bob');
    // Eight queries, eight upstreams; alice's per-observer bound at the gateway is 8 too.
    for (let i = 0; i < 8; i++) {
      const { first } = await alice.observe({ peer: world.coaps, path: '/nodes/n1/logs', query: [`lines=${i}`], timeoutMs: 20_000 });
      assert.is(first.code, ResponseCode.Content);
    }
    assert.is(agent.endpoint.observers('/logs'), 8);
    const { first } = await bob.observe({ peer: world.coaps, path: '/nodes/n1/logs', query: ['lines=9'], timeoutMs: 20_000 });
    assert.is(first.code, ResponseCode.ServiceUnavailable);
    assert.match(first.payload.toString(), '8 observations of node n1 already');
    const shared = await bob.observe({ peer: world.coaps, path: '/nodes/n1/logs', query: ['lines=3'], timeoutMs: 20_000 });
    assert.is(shared.first.code, ResponseCode.Content, 'joining one that runs is no new upstream');
    assert.is(agent.endpoint.observers('/logs'), 8);
  } finally {
    await world.close();
  }
});

test('the node\'s session ends: the operators\' observations end with 5.04', async () => {
  const world = await forwardingWorld();
  try {
    const agent = await world.agent('n1');
    const alice = await world.client('operator:alice');
    const { observation, first } = await alice.observe({ peer: world.coaps, path: '/nodes/n1/logs', timeoutMs: 20_000 });
    assert.is(first.code, ResponseCode.Content);
    assert.ok(agent.endpoint.transport.closeSession(world.coaps), 'close_notify sent');
    const last = await observation[Symbol.asyncIterator]().next() as IteratorResult<CoapResponse>;
    assert.is(last.done, false);
    assert.is(last.value.code, ResponseCode.GatewayTimeout);
    assert.match(last.value.payload.toString(), 'node n1 lost its session');
    assert.is(observation.state, 'ended');
    assert.is(world.gateway.router.observers('/nodes/n1/logs'), 0);
  } finally {
    await world.close();
  }
});

test.run();
