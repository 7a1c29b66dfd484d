// The gateway's LMDB store: records round-trip, survive a close and reopen, writes in one
// `atomically` are all-or-nothing when the action checks before it writes, and the audit
// log keeps only its newest entries; a store written before the alerts and metrics
// databases passes the check at start and gets them at its first open.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open } from 'lmdb';
import { StoreCorruptError } from '../../../src/fleet/errors.js';
import { checkStore } from '../../../src/fleet/store-check.js';
import { GatewayStore } from '../../../src/server/store.js';
import type { NodeRecord, RolloutRecord } from '../../../src/server/records.js';
import { manifestFor, rejection } from './gateway-harness.js';

const node = (id: string, at = '2025-01-01T00:00:00.000Z'): NodeRecord => ({
  registration: { node_id: id, version: '1.0.0', hardware: 'cortex-a55', agent_port: 5683 },
  registered_at: at, last_seen: at, health: null, health_at: null,
});

const update = (id: string, targets: string[]): RolloutRecord => ({
  manifest: manifestFor(id, targets), operator_state: 'active', image_ready: false,
  created_at: '2025-01-01T00:00:00.000Z', created_by: 'operator:alice',
});

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-store-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('nodes, updates and statuses round-trip and survive a close and reopen', () => withDir(async (dir) => {
  let store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  await store.atomically((writer) => {
    writer.putNode(node('n1'));
    writer.putNode(node('n2'));
    writer.putUpdate(update('u1', ['n1', 'n2']));
    writer.putStatus('u1', 'n1', { state: 'downloading', progress: 0.5, error: null, updated_at: '2025-01-01T00:01:00.000Z' });
    writer.audit({ at: '2025-01-01T00:00:00.000Z', who: 'operator:alice', action: 'update.create', target: '/updates/u1' });
  });
  assert.equal(store.getNode('n1'), node('n1'));
  await store.close();

  store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    assert.equal(store.listNodes().map((record) => record.registration.node_id), ['n1', 'n2']);
    const stored = store.getUpdate('u1')!;
    assert.equal(stored, update('u1', ['n1', 'n2']));
    const statuses = store.statusesOf(stored);
    assert.equal(statuses.get('n1'), { state: 'downloading', progress: 0.5, error: null, updated_at: '2025-01-01T00:01:00.000Z' });
    assert.equal(statuses.get('n2'), { state: 'pending', progress: 0, error: null, updated_at: stored.created_at }, 'a target that never reported is pending');
    assert.equal(store.recentAudit(10).map((entry) => entry.action), ['update.create']);
  } finally {
    await store.close();
  }
}));

test('statuses of one update do not leak into another with a longer id', () => withDir(async (dir) => {
  const store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    await store.atomically((writer) => {
      writer.putUpdate(update('u1', ['n1']));
      writer.putUpdate(update('u10', ['n1']));
      writer.putStatus('u10', 'n1', { state: 'installed', progress: 1, error: null, updated_at: 'x' });
    });
    assert.is(store.statusesOf(store.getUpdate('u1')!).get('n1')!.state, 'pending');
    assert.is(store.statusesOf(store.getUpdate('u10')!).get('n1')!.state, 'installed');
  } finally {
    await store.close();
  }
}));

test('an action that throws before writing leaves nothing behind', () => withDir(async (dir) => {
  const store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    await store.atomically((writer) => writer.putNode(node('n1')));
    assert.match(String(await rejection(store.atomically(() => {
      if (store.getNode('n1') !== undefined) throw new Error('exists');
    }))), /exists/);
    assert.is(store.listNodes().length, 1);
  } finally {
    await store.close();
  }
}));

test('the audit log keeps the newest entries up to its bound, across a reopen', () => withDir(async (dir) => {
  let store = await GatewayStore.open(dir, { auditMaxEntries: 5 });
  for (let i = 1; i <= 8; i++) await store.audit({ at: `t${i}`, who: 'gateway', action: 'test', target: `/x/${i}` });
  assert.is(store.auditCount, 5);
  assert.equal(store.recentAudit(10).map((entry) => entry.target), ['/x/8', '/x/7', '/x/6', '/x/5', '/x/4']);
  await store.close();
  store = await GatewayStore.open(dir, { auditMaxEntries: 5 });
  try {
    await store.audit({ at: 't9', who: 'gateway', action: 'test', target: '/x/9' });
    assert.is(store.auditCount, 5);
    assert.equal(store.recentAudit(1)[0]!.target, '/x/9', 'numbering continues after a reopen');
    assert.equal(store.recentAudit(10).at(-1)!.target, '/x/5');
  } finally {
    await store.close();
  }
}));

test('a store from before alerts and metrics passes the check and gets them at its first open; a missing older database is damage', () => withDir(async (dir) => {
  const older = open({ path: dir, maxDbs: 8 });
  for (const name of ['nodes', 'updates', 'statuses', 'audit']) await older.openDB({ name }).put('k', 'v');
  await older.close();
  const check = { databases: GatewayStore.DATABASES, added: GatewayStore.ADDED_DATABASES };
  assert.is(await checkStore(dir, check), 'sound');
  const missing = await rejection(checkStore(dir, { databases: GatewayStore.DATABASES }));
  assert.instance(missing, StoreCorruptError);
  assert.match((missing as Error).message, /"alerts" is missing/);
  const store = await GatewayStore.open(dir, { auditMaxEntries: 10 });
  await store.close();
  assert.is(await checkStore(dir, { databases: GatewayStore.DATABASES }), 'sound', 'created at the first open');
}));

test('a write after close is refused with a typed error', () => withDir(async (dir) => {
  const store = await GatewayStore.open(dir, { auditMaxEntries: 5 });
  await store.close();
  assert.is((await rejection(store.atomically((writer) => writer.putNode(node('n1')))) as { code?: string }).code, 'GATEWAY_ERR_STORE');
}));

test.run();
