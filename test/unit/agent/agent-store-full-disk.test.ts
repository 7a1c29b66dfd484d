// The agent's LMDB store on a full disk (a real tmpfs, filled): a write the disk refuses
// rejects with STORE_NO_SPACE, nothing is left as an unhandled rejection, and writes
// succeed again once the space is back.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentStore, type NodeUpdateRecord } from '../../../src/agent/store.js';
import { StoreWriteError } from '../../../src/fleet/errors.js';
import { SmallDisk } from '../../helpers/storage-faults.js';

const record = (index: number): NodeUpdateRecord => ({
  updateId: `fw-${index}`, manifest: null, state: 'failed', progress: 0, error: 'e'.repeat(400),
  download: null, install: null, updatedAt: '2026-01-01T00:00:00.000Z',
});

test('a full disk: saveUpdate rejects with STORE_NO_SPACE, no rejection goes unhandled, and a write succeeds once space is freed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-agent-full-'));
  const disk = SmallDisk.mount(dir, 2);
  if (typeof disk === 'string') {
    console.log(`SKIPPED: ${disk}`);
    await rm(dir, { recursive: true, force: true });
    return;
  }
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);
  const store = AgentStore.open(join(dir, 'state'));
  try {
    await store.saveUpdate(record(0));
    await disk.fill();
    let refused: unknown;
    // LMDB reuses pages it freed before it grows the file: new records until it must grow.
    for (let index = 1; index < 2000 && refused === undefined; index++) {
      refused = await store.saveUpdate(record(index)).then(() => undefined, (error: unknown) => error);
    }
    assert.instance(refused, StoreWriteError);
    assert.is((refused as StoreWriteError).code, 'STORE_NO_SPACE');
    await disk.free();
    await store.saveUpdate(record(9999));
    assert.is(store.update('fw-9999')?.updateId, 'fw-9999');
    // A turn of the event loop for any rejection lmdb-js would leave unheard.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await store.close();
    disk.unmount();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
