// Health reports in the store's unsynced environment (issue 14): a report commits there
// and never in the durable environment (no fsync per report), while a registration is a
// durable transaction awaited to disk; the report is laid over its node's record, survives
// a reopen, goes with a decommission, and one that outlived its node is dropped at open.
// The metrics history is written there too, and a history kept durably by an earlier
// release is moved there at the first open.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open } from 'lmdb';
import { GatewayStore, REPORTS_DIRECTORY } from '../../../src/server/store.js';
import type { NodeRecord, NodeReport } from '../../../src/server/records.js';
import type { MetricsSample } from '../../../src/fleet/node-views.js';
import { metricsSample } from './gateway-harness.js';

const REGISTERED_AT = '2026-01-01T00:00:00.000Z';
const node = (id: string): NodeRecord => ({
  registration: { node_id: id, version: '1.0.0', hardware: 'cortex-a55', agent_port: 5683 },
  registered_at: REGISTERED_AT, last_seen: REGISTERED_AT, health: null, health_at: null,
});
const report = (at: string, cpu = 12): NodeReport => ({
  health: { status: 'healthy', cpu_percent: cpu, memory_percent: 40, temperature: null, uptime_s: 100, timestamp: at }, health_at: at, last_seen: at,
});

async function withStore(run: (store: GatewayStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-reports-'));
  const store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    await run(store, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a health report is a transaction of the unsynced environment only; a registration one of the durable environment', () => withStore(async (store) => {
  await store.atomically((writer) => writer.putNode(node('n1')));
  const before = store.transactions();
  for (let index = 0; index < 5; index++) await store.putReport('n1', report(`2026-01-01T00:0${index + 1}:00.000Z`));
  const after = store.transactions();
  assert.is(after.durable, before.durable, 'no commit (and so no fsync) in the durable environment');
  assert.ok(after.reports > before.reports, 'committed in the reports environment');
  await store.atomically((writer) => writer.putNode(node('n2')));
  assert.is(store.transactions().durable, after.durable + 1, 'a registration commits durably');
  assert.is(store.transactions().reports, after.reports, 'and touches no report');
}));

test('a report is laid over its record when newer, survives a reopen, and goes with the node', () => withStore(async (store, dir) => {
  await store.atomically((writer) => { writer.putNode(node('n1')); writer.putNode(node('n2')); });
  await store.putReport('n1', report('2026-01-01T00:01:00.000Z', 33));
  assert.equal(store.getNode('n1'), { ...node('n1'), ...report('2026-01-01T00:01:00.000Z', 33) });
  assert.equal(store.listNodes().map((record) => record.health?.cpu_percent ?? null), [33, null]);
  // A later durable write of the record (a registration, a status report) moves last_seen on.
  await store.atomically((writer) => writer.putNode({ ...store.getNode('n1')!, last_seen: '2026-01-01T00:02:00.000Z' }));
  assert.is(store.getNode('n1')!.last_seen, '2026-01-01T00:02:00.000Z', 'the newer last_seen wins');
  assert.is(store.getNode('n1')!.health?.cpu_percent, 33);
  await store.close();

  const again = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    assert.is(again.getNode('n1')!.health?.cpu_percent, 33, 'kept across a close and reopen');
    await again.atomically((writer) => { writer.removeNode('n1'); });
    assert.is(again.getNode('n1'), undefined);
    await again.atomically((writer) => writer.putNode(node('n1')));
    assert.is(again.getNode('n1')!.health, null, 'a node registered again does not inherit the report of its predecessor');
  } finally {
    await again.close();
  }
}));

test('a report that outlived its node (a decommission racing it) is dropped at open', () => withStore(async (store, dir) => {
  await store.atomically((writer) => writer.putNode(node('n1')));
  await store.close();
  const reports = open({ path: join(dir, REPORTS_DIRECTORY), maxDbs: 2 });
  await reports.openDB<NodeReport, string>({ name: 'reports' }).put('ghost', report('2026-01-01T00:01:00.000Z'));
  await reports.close();

  const again = await GatewayStore.open(dir, { auditMaxEntries: 100 });
  try {
    await again.atomically((writer) => writer.putNode(node('ghost')));
    assert.is(again.getNode('ghost')!.health, null, 'the orphan report was removed at open');
  } finally {
    await again.close();
  }
}));

test('the metrics history is written in the reports environment; one an earlier release kept durably is moved there', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-reports-'));
  try {
    const earlier = open({ path: dir, maxDbs: 12 });
    await earlier.openDB<MetricsSample, [string, number]>({ name: 'metrics' }).put(['n1', 1000], metricsSample(1000));
    await earlier.close();

    const store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
    try {
      assert.equal(store.metricsTimes('n1'), [1000], 'the earlier history is there');
      const before = store.transactions();
      await store.reportsAtomically((writer) => writer.putMetrics('n1', 2000, metricsSample(2000)));
      assert.equal(store.metricsTimes('n1'), [1000, 2000]);
      assert.is(store.transactions().durable, before.durable, 'a sample commits nothing durably');
    } finally {
      await store.close();
    }
    const durable = open({ path: dir, maxDbs: 12 });
    assert.is(durable.openDB({ name: 'metrics' }).getCount(), 0, 'the durable copy is gone');
    await durable.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged reports environment is started afresh with the reason given; the durable records are intact', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-reports-'));
  try {
    const first = await GatewayStore.open(dir, { auditMaxEntries: 100 });
    await first.atomically((writer) => writer.putNode(node('n1')));
    await first.putReport('n1', report('2026-01-01T00:01:00.000Z'));
    assert.is(first.reportsDiscarded, undefined, 'a sound environment is kept');
    await first.close();
    // Overwritten pages after the meta pages: the check's child reads them, not the daemon.
    const path = join(dir, REPORTS_DIRECTORY, 'data.mdb');
    const bytes = await readFile(path);
    bytes.fill(0xa5, 8192);
    await writeFile(path, bytes);

    const store = await GatewayStore.open(dir, { auditMaxEntries: 100 });
    try {
      assert.match(store.reportsDiscarded ?? '', /data\.mdb|pages|reading/, String(store.reportsDiscarded));
      assert.is(store.getNode('n1')?.registration.node_id, 'n1', 'the registration is intact');
      assert.is(store.getNode('n1')?.health, null, 'the damaged report is gone');
      await store.putReport('n1', report('2026-01-01T00:02:00.000Z', 44));
      assert.is(store.getNode('n1')?.health?.cpu_percent, 44, 'reports are kept again');
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
