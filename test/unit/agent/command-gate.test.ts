// Signed commands at a real agent's own endpoint (UDP loopback, a real LMDB): every kind of
// forged, stale, replayed or misdirected envelope is refused with its code and a diagnostic
// that says why, and audited; a good one runs once, and its replay is refused even after
// the agent restarts.

import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { signCommandFor } from '../../../src/operator/sign-command.js';
import { formatCode } from '../../../src/protocol/codes.js';
import { writeFile } from 'node:fs/promises';
import { CommandWorld, diagnostic, NOW } from './command-harness.js';
import { unexpectedWarnings } from './agent-harness.js';

test('forged, stale, misdirected and malformed commands: each refused with its code and why, audited, and nothing runs', async () => {
  const world = await CommandWorld.create();
  try {
    const { agent, logs } = await world.start();
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const good = world.sign('restart');
    const { signature: _dropped, ...unsigned } = good;
    const cases: { what: string; body: unknown; path?: string; code: string; reason: RegExp }[] = [
      { what: 'unsigned', body: unsigned, code: '4.01', reason: /^unsigned: the command carries no signature$/ },
      { what: 'bad signature', body: { ...good, nonce: 'f'.repeat(32) }, code: '4.01', reason: /^bad-signature: the signature does not verify with key [0-9a-f]{16}$/ },
      { what: 'unknown key', body: world.sign('restart', {}, { key: stranger }), code: '4.01', reason: /^unknown-key: key [0-9a-f]{16} is not one this node pins$/ },
      { what: 'expired', body: world.sign('restart', {}, { notAfter: NOW - 1000 }), code: '4.03', reason: /^expired: not_after 2026-12-06T19:59:59Z has passed/ },
      { what: 'too far ahead', body: world.sign('restart', {}, { notAfter: NOW + 7200_000 }), code: '4.03', reason: /^too-far-in-future: not_after 2026-12-06T22:00:00Z is more than 3600 s/ },
      { what: 'other node', body: world.sign('restart', {}, { nodeId: 'n2' }), code: '4.03', reason: /^other-node: the command is for n2, this is n1$/ },
      { what: 'wrong action', body: world.sign('shutdown'), code: '4.03', reason: /^wrong-action: POST \/system\/restart takes restart, not shutdown$/ },
      { what: 'config.set at restart', body: world.sign('config.set', { log_level: 'debug' }), code: '4.03', reason: /^wrong-action: / },
      { what: 'restart at config', path: '/system/config', body: world.sign('restart'), code: '4.03', reason: /^wrong-action: PUT \/system\/config takes config.set, not restart$/ },
      { what: 'malformed fields', body: { v: 1, node_id: 'n1', signature: 'AAAA' }, code: '4.00', reason: /^malformed: .*action: one of/ },
      {
        what: 'a flood of unknown fields', body: { ...good, ...Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`field${i}`, 0])) },
        code: '4.00', reason: /^malformed: field0: not a field of a command; .{300,400}…$/,
      },
      { what: 'not JSON', body: Buffer.from('{restart'), code: '4.00', reason: /^malformed: malformed body: .*JSON/ },
    ];
    for (const { what, body, path = '/system/restart', code, reason } of cases) {
      const response = await world.send(agent, path === '/system/config' ? 'PUT' : 'POST', path, body);
      assert.is(formatCode(response.code), code, what);
      assert.match(diagnostic(response), reason, what);
    }
    const audit = agent.commandAudit();
    assert.is(audit.length, cases.length, 'each one audited');
    for (const [index, entry] of audit.entries()) {
      assert.is(entry.outcome, 'refused', cases[index]!.what);
      assert.match(entry.reason ?? '', cases[index]!.reason, cases[index]!.what);
      assert.is(entry.at, new Date(NOW).toISOString());
    }
    assert.is(audit[3]!.action, 'restart');
    assert.is(audit[3]!.nonce, (cases[3]!.body as { nonce: string }).nonce);
    assert.is(audit[3]!.resource, 'POST /system/restart');
    assert.equal(logs.filter((entry) => entry.msg === 'command refused').length, cases.length, 'one warning line each');
    assert.equal(unexpectedWarnings(logs, [/^command refused$/]), []);
    assert.not.ok(existsSync(join(world.dir, 'marker')), 'no command ran');
  } finally {
    await world.close();
  }
});

test('a good command runs once; its replay is refused, also after the agent restarts; CBOR envelopes too', async () => {
  const world = await CommandWorld.create();
  try {
    let { agent } = await world.start();
    const command = world.sign('config.set', { log_level: 'warn' });
    const first = await world.send(agent, 'PUT', '/system/config', command);
    assert.is(formatCode(first.code), '2.04', diagnostic(first));
    assert.equal(JSON.parse(first.payload.toString()), { node_id: 'n1', action: 'config.set', outcome: 'done', detail: 'set log_level' });
    const replay = await world.send(agent, 'PUT', '/system/config', command);
    assert.is(formatCode(replay.code), '4.03');
    assert.match(diagnostic(replay), new RegExp(`^replayed: nonce ${command.nonce} was used before$`));

    await agent.stop();
    ({ agent } = await world.start());
    const afterRestart = await world.send(agent, 'PUT', '/system/config', command);
    assert.is(formatCode(afterRestart.code), '4.03', 'the ledger is on disk');
    assert.match(diagnostic(afterRestart), /^replayed: /);
    assert.equal(agent.commandAudit().map((entry) => entry.outcome), ['accepted', 'refused', 'refused'], 'the audit survives too');

    const cbor = await world.send(agent, 'PUT', '/system/config', world.sign('config.set', { log_level: 'info' }), 'cbor');
    assert.is(formatCode(cbor.code), '2.04', diagnostic(cbor));
  } finally {
    await world.close();
  }
});

test('the envelope the operator\'s tool signs from its key file is accepted', async () => {
  const world = await CommandWorld.create();
  try {
    const { agent } = await world.start();
    const keyPath = join(world.dir, 'operator-command.key');
    await writeFile(keyPath, world.operatorKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const envelope = await signCommandFor({ nodeId: 'n1', action: 'config.set', args: { log_level: 'debug' }, signingKeyPath: keyPath, now: NOW });
    const response = await world.send(agent, 'PUT', '/system/config', envelope);
    assert.is(formatCode(response.code), '2.04', diagnostic(response));
  } finally {
    await world.close();
  }
});

test('with no operator key pinned, every command is refused', async () => {
  const world = await CommandWorld.create();
  try {
    const { agent } = await world.start({ operator_keys: [] });
    const response = await world.send(agent, 'POST', '/system/shutdown', world.sign('shutdown'));
    assert.is(formatCode(response.code), '4.01');
    assert.match(diagnostic(response), /^no-key: no operator key pinned/);
    assert.is(agent.commandAudit()[0]!.outcome, 'refused');
  } finally {
    await world.close();
  }
});

test.run();
