// The agent's LMDB nonce ledger and command audit on a real LMDB in a temp directory:
// bounded (an unexpired nonce is never forgotten to make room; the oldest audit entry is
// dropped), expired nonces swept, and both kept across a reopen of the store.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandAudit, type CommandAuditEntry } from '../../../src/agent/command-audit.js';
import { LmdbNonceLedger } from '../../../src/agent/nonce-ledger-lmdb.js';
import { AgentStore } from '../../../src/agent/store.js';
import { NonceLedgerFullError } from '../../../src/fleet/errors.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { tempDir } from './fake-gateway.js';

const nonce = (n: number): string => n.toString(16).padStart(32, '0');

test('nonce ledger: bounded, refuses rather than forgets an unexpired nonce, sweeps expired ones, survives a reopen', async () => {
  const temp = await tempDir('coap-fleet-agent-ledger-');
  const path = join(temp.path, 'state');
  let store = AgentStore.open(path);
  try {
    let ledger = new LmdbNonceLedger(store, 3);
    ledger.remember(nonce(1), 1000, 0);
    ledger.remember(nonce(2), 5000, 0);
    ledger.remember(nonce(3), 5000, 0);
    ledger.remember(nonce(3), 5000, 0);
    assert.is(ledger.size, 3, 'a nonce remembered twice counts once');
    assert.throws(() => ledger.remember(nonce(4), 5000, 500), (error: unknown) => error instanceof NonceLedgerFullError, 'full of unexpired ones');
    assert.ok(ledger.seen(nonce(1)), 'none forgotten to make room');
    assert.not.ok(ledger.seen(nonce(4)));
    ledger.remember(nonce(4), 5000, 2000);
    assert.not.ok(ledger.seen(nonce(1)), 'the expired one was swept to make room');
    assert.ok(ledger.seen(nonce(4)));

    await store.close();
    store = AgentStore.open(path);
    ledger = new LmdbNonceLedger(store, 3);
    assert.equal([2, 3, 4].map((n) => ledger.seen(nonce(n))), [true, true, true], 'kept across a reopen');
    ledger.sweep(6000);
    assert.is(ledger.size, 0);
  } finally {
    await store.close();
    await temp.remove();
  }
});

test('command audit: the newest entries within its bound, oldest dropped, in order across a reopen; a log line each', async () => {
  const temp = await tempDir('coap-fleet-agent-audit-');
  const path = join(temp.path, 'state');
  const lines: Record<string, unknown>[] = [];
  const log = createDaemonLogger({ level: 'info', pretty: false, stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } });
  const entry = (n: number, outcome: CommandAuditEntry['outcome']): CommandAuditEntry => ({
    at: '2026-12-06T20:00:00.000Z', action: 'restart', resource: 'POST /system/restart', outcome,
    reason: outcome === 'refused' ? `expired: ${n}` : null, key_id: 'ab'.repeat(8), nonce: nonce(n),
  });
  let store = AgentStore.open(path);
  try {
    let audit = new CommandAudit(store, log, 3);
    for (let n = 1; n <= 4; n++) audit.record(entry(n, n % 2 === 0 ? 'accepted' : 'refused'));
    assert.equal(audit.entries().map((kept) => kept.nonce), [2, 3, 4].map(nonce));
    await store.close();
    store = AgentStore.open(path);
    audit = new CommandAudit(store, log, 3);
    audit.record(entry(5, 'refused'));
    assert.equal(audit.entries().map((kept) => kept.nonce), [3, 4, 5].map(nonce), 'numbering goes on after a reopen');
    assert.equal(lines.map((line) => `${String(line.level)} ${String(line.msg)}`), [
      'warn command refused', 'info command accepted', 'warn command refused', 'info command accepted', 'warn command refused',
    ]);
    assert.is(lines[4]!.reason, 'expired: 5');
  } finally {
    await store.close();
    await temp.remove();
  }
});

test.run();
