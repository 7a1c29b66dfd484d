// The gateway's own state machine (running -> stopping -> stopped) and the presence of
// nodes (online <-> offline): every move through transition(), illegal ones refused with a
// typed error and nothing changed, each move logged `from -> to`; and a graceful stop that
// lets the response of a handler still running at stop reach its client.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { GatewayRoute } from '../../../src/fleet/paths.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { IllegalTransitionError } from '../../../src/protocol/errors.js';
import type { Logger } from '../../../src/protocol/interfaces.js';
import { Gateway } from '../../../src/server/gateway.js';
import { GatewayLifecycle, type GatewayState } from '../../../src/server/gateway-lifecycle.js';
import { Presence, type NodePresence } from '../../../src/server/presence.js';
import { GatewayStore } from '../../../src/server/store.js';
import { testConfig, unexpectedLogs, type LogLine } from './gateway-harness.js';

/** A Logger keeping its debug lines' messages. */
function debugLines(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const ignore = (): void => {};
  return {
    lines, info: ignore, warn: ignore, error: ignore,
    debug: (objectOrMessage, message) => { lines.push(message ?? String(objectOrMessage)); },
  };
}

function refusal(run: () => void): IllegalTransitionError {
  try {
    run();
  } catch (error) {
    assert.instance(error, IllegalTransitionError);
    return error as IllegalTransitionError;
  }
  throw new assert.Assertion({ message: 'the move was not refused', operator: 'throws', actual: 'no error', expects: 'IllegalTransitionError' });
}

test('gateway lifecycle: running -> stopping -> stopped, each move logged and its entry action run once', () => {
  const logger = debugLines();
  const entered: GatewayState[] = [];
  const lifecycle = new GatewayLifecycle(logger, { stopping: () => entered.push('stopping'), stopped: () => entered.push('stopped') });
  assert.is(lifecycle.state, 'running');
  lifecycle.transition('stopping');
  lifecycle.transition('stopped');
  assert.is(lifecycle.state, 'stopped');
  assert.equal(entered, ['stopping', 'stopped']);
  assert.equal(logger.lines, ['gateway running -> stopping', 'gateway stopping -> stopped']);
});

test('gateway lifecycle: an illegal move is refused with COAP_ERR_ILLEGAL_TRANSITION; state, log and entry actions unchanged', () => {
  const logger = debugLines();
  const entered: GatewayState[] = [];
  const lifecycle = new GatewayLifecycle(logger, { stopping: () => entered.push('stopping'), stopped: () => entered.push('stopped') });
  const skipped = refusal(() => lifecycle.transition('stopped'));
  assert.is(skipped.code, 'COAP_ERR_ILLEGAL_TRANSITION');
  assert.is(skipped.message, 'illegal gateway transition running -> stopped');
  assert.is(lifecycle.state, 'running');
  refusal(() => lifecycle.transition('running'));
  lifecycle.transition('stopping');
  refusal(() => lifecycle.transition('running'));
  refusal(() => lifecycle.transition('stopping'));
  lifecycle.transition('stopped');
  for (const to of ['running', 'stopping', 'stopped'] as const) refusal(() => lifecycle.transition(to));
  assert.is(lifecycle.state, 'stopped');
  assert.equal(entered, ['stopping', 'stopped']);
  assert.equal(logger.lines, ['gateway running -> stopping', 'gateway stopping -> stopped']);
});

test('node presence: online -> offline -> online through transition(), logged; a move to where it is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-presence-'));
  const store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    let now = new Date('2026-01-01T00:00:00Z');
    const at = now.toISOString();
    await store.atomically((writer) => writer.putNode({
      registration: { node_id: 'n1', version: '1.0.0', hardware: 'test', agent_port: 5683 }, registered_at: at, last_seen: at, health: null, health_at: null,
    }));
    const logger = debugLines();
    const changes: string[] = [];
    const presence = new Presence(store, {
      offlineAfterMs: 90_000, sweepIntervalMs: 30_000, now: () => now, logger,
      onChange: (node, to: NodePresence) => changes.push(`${node} ${to}`),
    });
    presence.sweep();
    assert.equal(changes, [], 'a node seen within the bound stays online');
    now = new Date(now.getTime() + 90_001);
    presence.sweep();
    presence.sweep();
    assert.is(presence.presenceOf('n1'), 'offline');
    const again = refusal(() => presence.transition('n1', 'offline'));
    assert.is(again.message, 'illegal node presence transition offline -> offline');
    presence.seen('n1');
    presence.seen('n1');
    assert.is(presence.presenceOf('n1'), 'online');
    refusal(() => presence.transition('n1', 'online'));
    assert.equal(changes, ['n1 offline', 'n1 online']);
    assert.equal(logger.lines, ['node presence online -> offline', 'node presence offline -> online']);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a graceful stop: the state moves running -> stopping -> stopped, and a handler running at stop gets its response to the client', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'coap-fleet-gw-stop-'));
  const logs: LogLine[] = [];
  const logger = createDaemonLogger({ level: 'debug', pretty: false, stream: { write: (line) => logs.push(JSON.parse(line) as LogLine) } });
  const endpoint = await Endpoint.udp({ host: '127.0.0.1', port: 0 }, { separateResponseDelayMs: 2000 });
  const gateway = await Gateway.start({ config: testConfig(dataDir), logger, endpoints: { coap: endpoint } });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  try {
    // A handler the test holds until the stop has begun: GET of a node's health (a route
    // with a rule in the access table), answered by this one instead.
    let entered!: () => void;
    const handlerEntered = new Promise<void>((resolve) => { entered = resolve; });
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    endpoint.router.remove(GatewayRoute.health);
    gateway.router.add(GatewayRoute.health, {
      handlers: {
        GET: async () => {
          entered();
          await released;
          return { code: ResponseCode.Content, payload: Buffer.from('answered while stopping') };
        },
      },
    });
    const response = client.request({ peer: gateway.addresses().coap!, path: '/nodes/n1/health', method: Method.GET, timeoutMs: 5000 });
    await handlerEntered;
    assert.is(gateway.state, 'running');
    const stopped = gateway.stop();
    assert.is(gateway.state, 'stopping');
    assert.is(gateway.router.inFlight, 1);
    release();
    const answer = await response;
    assert.is(answer.code, ResponseCode.Content);
    assert.is(answer.payload.toString(), 'answered while stopping');
    await stopped;
    assert.is(gateway.state, 'stopped');
    const moves = logs.map((line) => line.msg).filter((msg) => msg.includes(' -> ') || msg === 'gateway stopped');
    assert.equal(moves.filter((msg) => msg.startsWith('gateway')), ['gateway running -> stopping', 'gateway stopping -> stopped', 'gateway stopped']);
    assert.equal(unexpectedLogs(logs), []);
  } finally {
    await gateway.stop();
    await client.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test.run();
