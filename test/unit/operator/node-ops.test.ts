// The operator's tools for one node (src/operator node-reads, node-logs, node-commands,
// command-key) against a stand-in gateway (test/helpers/stand-in-gateway.ts: a real CoAP
// endpoint on loopback serving /nodes/{id}/… as the gateway will; the real forwarding is
// being written by another engineer as this is). Its agents check the signed commands
// with the real verifyCommand and the operator's public key from keys generate.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_COMMAND_TTL_SECONDS } from '../../../src/fleet/command-envelope.js';
import type { LogEntry } from '../../../src/fleet/node-views.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { COMMAND_KEY_FILE, locateCommandKey } from '../../../src/operator/command-key.js';
import { CommandInputError, GatewayError, InvalidIdError, ObservationRefusedError, SigningKeyError } from '../../../src/operator/errors.js';
import { openGateway, type GatewayClient } from '../../../src/operator/gateway-client.js';
import { keyId } from '../../../src/fleet/command-envelope.js';
import { generateKeys } from '../../../src/operator/keys.js';
import { rebootNode, serviceCommand, setNodeConfig, shutdownNode, typedSettings } from '../../../src/operator/node-commands.js';
import { followNodeLogs, readNodeLogs, RecentEntries } from '../../../src/operator/node-logs.js';
import { readNodeConfig, readNodeHealth, readNodeMetrics, readNodeServices } from '../../../src/operator/node-reads.js';
import { startStandInGateway, type StandInGateway } from '../../helpers/stand-in-gateway.js';
import { waitFor } from '../../helpers/wait.js';

let dir: string;
let keyPath: string;
let publicKey: string;
let standIn: StandInGateway;
let gateway: GatewayClient;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-node-ops-'));
  await generateKeys(join(dir, 'keys'), ['node-1', 'node-2'], 'admin', false);
  keyPath = join(dir, 'keys', COMMAND_KEY_FILE);
  publicKey = await readFile(join(dir, 'keys', 'operator-command.pub'), 'utf8');
  standIn = await startStandInGateway({
    operatorPublicKey: publicKey, nodeIds: ['node-1', 'node-2', 'node-3'], misroute: { 'node-3': 'node-1' }, overlappingNotifications: true,
  });
  gateway = await openGateway({ gateway: standIn.uri });
});

test.after(async () => {
  await gateway.close();
  await standIn.close();
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const thrown = await promise.then(() => undefined, (error: unknown) => error);
  assert.instance(thrown, Error, 'resolved, expected a rejection');
  return thrown as Error;
}

/** The promise, or a failure after 30 s: a lost notification fails the test, not the run. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 30_000); });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

test('health, metrics (since as the query), services and config read the node\'s shapes', async () => {
  const health = await readNodeHealth(gateway, 'node-1');
  assert.is(health.health?.status, 'healthy');
  const window = await readNodeMetrics(gateway, 'node-1');
  assert.is(window.samples.length, 2);
  assert.equal(standIn.requests.at(-1)!.query, []);
  const recent = await readNodeMetrics(gateway, 'node-1', '2026-12-06T19:59:55Z');
  assert.equal(recent.samples.map((sample) => sample.at), ['2026-12-06T20:00:00Z']);
  assert.equal(standIn.requests.at(-1), { method: Method.GET, path: '/nodes/node-1/metrics', query: ['since=2026-12-06T19:59:55Z'] });
  assert.equal((await readNodeServices(gateway, 'node-1')).services.map((service) => service.name), ['demo-app.service']);
  assert.is((await readNodeConfig(gateway, 'node-1')).settings.log_level, 'info');
  const badId = await rejection(readNodeHealth(gateway, '../node-1'));
  assert.instance(badId, InvalidIdError);
});

test('a service command is signed for the node with the operator key: the agent verifies it, once each', async () => {
  const before = Date.now();
  const result = await serviceCommand(gateway, 'node-1', 'demo-app.service', 'restart', { keyPath });
  assert.equal(result, { node_id: 'node-1', action: 'service.restart', outcome: 'done', detail: 'demo-app.service active' });
  const envelope = standIn.accepted.at(-1)!;
  assert.is(envelope.node_id, 'node-1');
  assert.equal(envelope.args, { name: 'demo-app.service' });
  assert.is(envelope.key_id, keyId(publicKey));
  const lifetime = Date.parse(envelope.not_after) - before;
  assert.ok(lifetime > 290_000 && lifetime <= 300_000, `not_after ${envelope.not_after} is about 5 min ahead`);
  await serviceCommand(gateway, 'node-1', 'demo-app.service', 'stop', { keyPath });
  assert.is.not(standIn.accepted.at(-1)!.nonce, envelope.nonce, 'a fresh nonce per command');
  assert.is((await readNodeServices(gateway, 'node-1')).services[0]!.active_state, 'inactive');

  assert.is((await rebootNode(gateway, 'node-2', { keyPath })).outcome, 'scheduled');
  assert.is((await shutdownNode(gateway, 'node-2', { keyPath })).action, 'shutdown');
  assert.equal(standIn.accepted.slice(-2).map((accepted) => [accepted.node_id, accepted.action]), [['node-2', 'restart'], ['node-2', 'shutdown']]);
});

test('a command that reaches another node is refused 4.03 with the agent\'s reason; an unknown key 4.01', async () => {
  const count = standIn.accepted.length;
  // The stand-in hands node-3's requests to node-1's agent, as a compromised gateway might.
  const misrouted = await rejection(rebootNode(gateway, 'node-3', { keyPath }));
  assert.instance(misrouted, GatewayError);
  assert.is((misrouted as GatewayError).responseCode, ResponseCode.Forbidden);
  assert.is((misrouted as GatewayError).diagnostic, 'other-node: the command is for node-3, this is node-1');
  assert.match(misrouted.message, '/nodes/node-3/system/restart: 4.03 Forbidden: other-node: the command is for node-3');

  const strangerKey = join(dir, 'stranger.key');
  await writeFile(strangerKey, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const unknown = await rejection(shutdownNode(gateway, 'node-1', { keyPath: strangerKey }));
  assert.is((unknown as GatewayError).responseCode, ResponseCode.Unauthorized);
  assert.match((unknown as GatewayError).diagnostic ?? '', /^unknown-key: key [0-9a-f]{16} is not one this node pins$/);
  const expired = await rejection(rebootNode(gateway, 'node-1', { keyPath, now: Date.now() - 600_000 }));
  assert.match((expired as GatewayError).diagnostic ?? '', /^expired: not_after/);
  assert.is(standIn.accepted.length, count, 'none ran');

  const missing = await rejection(readNodeHealth(gateway, 'node-9'));
  assert.is((missing as GatewayError).responseCode, ResponseCode.NotFound);
  assert.is((missing as GatewayError).diagnostic, 'no node node-9');
});

test('config set types each value as the node shows its key, signs config.set, and the agent\'s 4.00 comes back', async () => {
  const result = await setNodeConfig(gateway, 'node-2', [['metrics_interval_s', '5'], ['allowed_units', 'a.service, b.service'], ['hardware', '42']], { keyPath });
  assert.is(result.action, 'config.set');
  assert.equal(standIn.accepted.at(-1)!.args, { metrics_interval_s: 5, allowed_units: ['a.service', 'b.service'], hardware: '42' });
  assert.equal((await readNodeConfig(gateway, 'node-2')).settings.allowed_units, ['a.service', 'b.service']);
  const refused = await rejection(setNodeConfig(gateway, 'node-2', [['colour', 'blue']], { keyPath }));
  assert.is((refused as GatewayError).responseCode, ResponseCode.BadRequest);
  assert.is((refused as GatewayError).diagnostic, 'colour: not a setting');
  const notNumber = await rejection(setNodeConfig(gateway, 'node-2', [['metrics_interval_s', 'often']], { keyPath }));
  assert.instance(notNumber, CommandInputError);
  assert.is(notNumber.message, 'metrics_interval_s is a number, not "often"');
  const badLifetime = await rejection(rebootNode(gateway, 'node-2', { keyPath, ttlSeconds: MAX_COMMAND_TTL_SECONDS + 1 }));
  assert.instance(badLifetime, CommandInputError);
});

test('logs send their filters as the query; follow yields the tail, then only new entries, and deregisters when aborted', async () => {
  const view = await readNodeLogs(gateway, 'node-1', { unit: 'demo app', since: '2026-12-06T19:00:00Z', priority: 3, lines: 1 });
  assert.equal(standIn.requests.at(-1)!.query, ['unit=demo app', 'since=2026-12-06T19:00:00Z', 'priority=3', 'lines=1']);
  assert.equal(view.entries.map((entry) => entry.message), ['disk\nalmost full']);
  assert.is(view.truncated, true);

  const controller = new AbortController();
  const follow = followNodeLogs(gateway, 'node-2', {}, controller.signal);
  const next = async (what: string): Promise<LogEntry> => {
    const { value, done } = await within(follow.next(), what);
    assert.is(done, false, what);
    return value as LogEntry;
  };
  assert.is((await next('the first entry')).message, 'started');
  assert.is((await next('the second entry')).message, 'disk\nalmost full');
  assert.is(standIn.logObservers('node-2'), 1);
  // Each notification repeats the previous one's last entry: it is not handed out again.
  standIn.appendLogs('node-2', [{ at: '2026-12-06T20:00:01Z', unit: 'demo-app.service', priority: 6, message: 'one' }]);
  assert.is((await next('a new entry')).message, 'one');
  standIn.appendLogs('node-2', [
    { at: '2026-12-06T20:00:02Z', unit: null, priority: 4, message: 'two' },
    { at: '2026-12-06T20:00:03Z', unit: null, priority: 4, message: 'three' },
  ]);
  assert.is((await next('the second batch')).message, 'two');
  assert.is((await next('the second batch\'s last')).message, 'three');
  const ended = within(follow.next(), 'the end of the follow');
  controller.abort();
  assert.equal(await ended, { value: undefined, done: true });
  await waitFor('the deregistration', () => standIn.logObservers('node-2') === 0);
});

test('a follow the gateway answers without Observe hands out the entries, then says nothing more will come', async () => {
  const plain = await startStandInGateway({ operatorPublicKey: publicKey, nodeIds: ['node-1'], observableLogs: false });
  const client = await openGateway({ gateway: plain.uri });
  try {
    const messages: string[] = [];
    const thrown = await (async () => {
      for await (const entry of followNodeLogs(client, 'node-1', {}, new AbortController().signal)) messages.push(entry.message);
    })().then(() => undefined, (error: unknown) => error);
    assert.equal(messages, ['started', 'disk\nalmost full']);
    assert.instance(thrown, ObservationRefusedError);
    assert.is((thrown as ObservationRefusedError).code, 'OPERATOR_ERR_NOT_OBSERVED');
  } finally {
    await client.close();
    await plain.close();
  }
});

test('the command key: given, else the environment\'s, else beside the credentials file, else a SigningKeyError', async () => {
  const credentials = join(dir, 'keys', 'operator-admin.json');
  assert.is(await locateCommandKey({ given: '/x.key', environment: '/y.key', credentials }), '/x.key');
  assert.is(await locateCommandKey({ environment: '/y.key', credentials }), '/y.key');
  assert.is(await locateCommandKey({ environment: '', credentials }), keyPath);
  const none = await rejection(locateCommandKey({ credentials: join(dir, 'operator-admin.json') }));
  assert.instance(none, SigningKeyError);
  assert.match(none.message, `there is no ${join(dir, COMMAND_KEY_FILE)}`);
  assert.instance(await rejection(locateCommandKey({})), SigningKeyError);
});

test('typedSettings: numbers, booleans, lists and text by the shown type; unknown keys by their look', () => {
  const shown = { n: 1, b: false, l: ['x'], t: 'text' };
  assert.equal(typedSettings(shown, [['n', '2.5'], ['b', 'true'], ['l', ''], ['t', 'true'], ['new', '7'], ['flag', 'false'], ['word', 'a,b']]), {
    n: 2.5, b: true, l: [], t: 'true', new: 7, flag: false, word: 'a,b',
  });
  for (const [assignments, message] of [
    [[['b', 'yes']], 'b is true or false, not "yes"'], [[['n', '']], 'n is a number, not ""'], [[['n', '1'], ['n', '2']], 'n is given twice'],
    [[['toString', 'x'], ['b', 'constructor']], 'b is true or false, not "constructor"'],
  ] as const) {
    assert.throws(() => typedSettings(shown, assignments), (error: Error) => error instanceof CommandInputError && error.message === message, message);
  }
});

test('recent entries: a repeat of an earlier batch within the bound is dropped, one beyond it is new again; repeats in one batch stay', () => {
  const recent = new RecentEntries(2);
  const entry = (message: string): LogEntry => ({ at: SAMPLE, unit: null, priority: 6, message });
  assert.equal(recent.fresh([entry('a'), entry('b'), entry('a')]).map((kept) => kept.message), ['a', 'b', 'a']);
  assert.equal(recent.fresh([entry('b'), entry('c')]).map((kept) => kept.message), ['c']);
  assert.equal(recent.fresh([entry('a')]).map((kept) => kept.message), ['a'], 'a was forgotten when c came');
});

const SAMPLE = '2026-12-06T20:00:00Z';

test.run();
