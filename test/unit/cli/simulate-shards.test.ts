// The simulator's shard plan, its tallies and the nodes picked to fail: pure functions.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeCounters } from '../../../src/agent/simulated-node.js';
import { pickedToFail } from '../../../src/agent/simulated-installer.js';
import { loopbackAddresses, planShards } from '../../../src/cli/simulate-shards.js';
import { emptyTally, sumTallies, tallyNodes } from '../../../src/cli/simulate-tally.js';

const table = (n: number): Map<string, string> => new Map([
  ['operator:admin', '00'.repeat(16)],
  ...Array.from({ length: n }, (_, i) => [`node:n${i + 1}`, (i + 1).toString(16).padStart(32, '0')] as [string, string]),
]);

test('nodes are dealt round-robin, every node once, each with its own address; the operator is left out', () => {
  const shards = planShards(table(7), 7, 3, '127.1.0.1');
  assert.is(shards.length, 3);
  assert.equal(shards.map((shard) => shard.length), [3, 2, 2]);
  const all = shards.flat().sort((a, b) => a.index - b.index);
  assert.equal(all.map((node) => node.nodeId), ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
  assert.equal(all.map((node) => node.host), ['127.1.0.1', '127.1.0.2', '127.1.0.3', '127.1.0.4', '127.1.0.5', '127.1.0.6', '127.1.0.7']);
  assert.is(all[2]!.identity, 'node:n3');
  assert.is(all[2]!.keyHex, '3'.padStart(32, '0'));
  assert.equal(shards[1]!.map((node) => node.index), [1, 4]);
});

test('fewer nodes than workers: one worker per node, no empty shard', () => {
  assert.equal(planShards(table(2), 2, 8, '127.1.0.1').map((shard) => shard.length), [1, 1]);
});

test('the plan refuses more nodes than the file holds, and addresses outside 127.0.0.0/8', () => {
  assert.throws(() => planShards(table(3), 4, 2, '127.1.0.1'), /holds 3 node identities/);
  assert.throws(() => planShards(table(3), 3, 2, '10.0.0.1'), /127\.0\.0\.0\/8/);
  assert.throws(() => loopbackAddresses('127.255.255.250', 10), /not room/);
});

test('addresses skip .0 and .255 and carry into the next /24', () => {
  assert.equal(loopbackAddresses('127.1.0.253', 4), ['127.1.0.253', '127.1.0.254', '127.1.1.1', '127.1.1.2']);
  assert.is(new Set(loopbackAddresses('127.1.0.1', 10_000)).size, 10_000);
});

const counters = (overrides: Partial<NodeCounters>): NodeCounters => ({
  registered: false, firstRegisteredMs: -1, registrations: 0, registrationRetries: 0, healthSamples: 0, healthReports: 0,
  healthReportsFailed: 0, handshakes: 0, handshakeFailures: 0, installed: 0, installFailed: 0, errors: {}, ...overrides,
});

test('a worker tallies its nodes; the parent sums the workers (the slowest first registration is a maximum)', () => {
  const a = tallyNodes([
    counters({ registered: true, firstRegisteredMs: 1200, registrations: 2, handshakes: 1, errors: { COAP_ERR_TIMEOUT: 2 } }),
    counters({ registrationRetries: 3, handshakeFailures: 1, errors: { COAP_ERR_TIMEOUT: 1, DTLS_ERR_HANDSHAKE: 1 } }),
  ], 1, 40);
  assert.is(a.started, 2);
  assert.is(a.startFailures, 1);
  assert.is(a.registered, 1);
  assert.is(a.lastFirstRegistrationMs, 1200);
  assert.equal(a.errors, { COAP_ERR_TIMEOUT: 3, DTLS_ERR_HANDSHAKE: 1 });
  const b = tallyNodes([counters({ registered: true, firstRegisteredMs: 3400, installed: 1, installFailed: 1, healthSamples: 5 })], 0, 60);
  const total = sumTallies([a, b, emptyTally()]);
  assert.is(total.started, 3);
  assert.is(total.registered, 2);
  assert.is(total.lastFirstRegistrationMs, 3400);
  assert.is(total.registrationRetries, 3);
  assert.is(total.installed + total.installFailed, 2);
  assert.is(total.healthSamples, 5);
  assert.is(total.rssMiB, 100);
  assert.equal(total.errors, { COAP_ERR_TIMEOUT: 3, DTLS_ERR_HANDSHAKE: 1 });
});

test('error kinds stay bounded: the most frequent are kept, the rest summed as other', () => {
  const errors = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`KIND_${i}`, i + 1]));
  const total = sumTallies([tallyNodes([counters({ errors })], 0, 0)]);
  assert.is(Object.keys(total.errors).length, 16);
  assert.is(total.errors.KIND_29, 30);
  assert.is(Object.values(total.errors).reduce((sum, n) => sum + n, 0), (30 * 31) / 2);
});

test('the nodes picked to fail: the same for a node and update every time, about the rate over many', () => {
  assert.is(pickedToFail('n1', 'fw-2', 0), false);
  assert.is(pickedToFail('n1', 'fw-2', 1), true);
  const picked = Array.from({ length: 2000 }, (_, i) => pickedToFail(`node-${i}`, 'fw-2', 0.25)).filter(Boolean).length;
  assert.ok(picked > 400 && picked < 600, `${picked} of 2000 at 25 %`);
  assert.is(pickedToFail('node-7', 'fw-2', 0.25), pickedToFail('node-7', 'fw-2', 0.25));
});

test.run();
