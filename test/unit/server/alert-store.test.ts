// The alerts in the gateway's LMDB store: ids from a sequence that survives a reopen, and
// a bounded history: past the bound the oldest cleared alerts go, active ones never.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NewAlert } from '../../../src/server/alert-rules.js';
import { GatewayStore } from '../../../src/server/store.js';

const alert = (nodeId: string): NewAlert => ({
  node_id: nodeId, kind: 'node_offline', severity: 'critical', raised_at: '2026-01-01T00:00:00.000Z', cleared_at: null, acknowledged_by: null, detail: '',
});

test('past the history bound the oldest cleared alerts go; active ones stay; ids go on after a reopen', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-alerts-'));
  try {
    let store = await GatewayStore.open(dir, { auditMaxEntries: 100, alertHistoryMax: 3 });
    const active = { ...alert('keep'), id: store.reserveAlertId() };
    await store.atomically((writer) => writer.putAlert(active));
    for (let i = 0; i < 5; i++) {
      const raised = { ...alert(`n${i}`), id: store.reserveAlertId() };
      await store.atomically((writer) => writer.putAlert(raised));
      await store.atomically((writer) => writer.putAlert({ ...raised, cleared_at: '2026-01-01T00:01:00.000Z' }));
    }
    assert.equal(store.listAlerts().map((record) => [record.id, record.node_id]), [['1', 'keep'], ['4', 'n2'], ['5', 'n3'], ['6', 'n4']]);
    assert.is(store.getAlert(active.id)?.cleared_at, null);
    assert.is(store.getAlert('2'), undefined);
    assert.is(store.getAlert('x'), undefined);
    await store.close();
    store = await GatewayStore.open(dir, { auditMaxEntries: 100, alertHistoryMax: 3 });
    assert.is(store.reserveAlertId(), '7');
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
