// The check of an LMDB environment before a daemon opens it, on real files written by
// lmdb-js: what each damage to the meta pages is called, and that a sound store passes
// and a missing or empty data.mdb is a fresh start.

import { cp, mkdir, mkdtemp, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentStore } from '../../../src/agent/store.js';
import { StoreCorruptError } from '../../../src/fleet/errors.js';
import { checkStore } from '../../../src/fleet/store-check.js';

const NO_DATABASES = { databases: [] };
let sound = '';
let scratch = '';

test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'coap-fleet-store-check-'));
  sound = join(scratch, 'sound');
  const store = AgentStore.open(sound);
  for (let index = 0; index < 200; index++) {
    await store.saveUpdate({ updateId: `fw-${index}`, manifest: null, state: 'failed', progress: 0, error: 'e'.repeat(300), download: null, install: null, updatedAt: '2026-01-01T00:00:00.000Z' });
  }
  await store.close();
});

test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let copies = 0;
/** A copy of the sound store with `damage` done to its data.mdb. */
async function damaged(damage: (file: string) => Promise<void>): Promise<string> {
  const dir = join(scratch, `copy-${copies++}`);
  await cp(sound, dir, { recursive: true });
  await damage(join(dir, 'data.mdb'));
  return dir;
}

async function poke(file: string, offset: number, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

const uint32 = (value: number): Buffer => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
};

async function reason(dir: string): Promise<string> {
  const error = await checkStore(dir, NO_DATABASES).then(() => undefined, (caught: unknown) => caught);
  assert.instance(error, StoreCorruptError);
  assert.is((error as StoreCorruptError).code, 'STORE_CORRUPT');
  return (error as Error).message;
}

test('a sound store passes; no data.mdb, or an empty one, is a fresh start', async () => {
  assert.is(await checkStore(sound, NO_DATABASES), 'sound');
  assert.is(await checkStore(join(scratch, 'nothing-here'), NO_DATABASES), 'absent');
  const empty = join(scratch, 'empty');
  await mkdir(empty);
  await writeFile(join(empty, 'data.mdb'), '');
  assert.is(await checkStore(empty, NO_DATABASES), 'absent');
});

test('a wrong magic, data version or page size in meta page 0 is named', async () => {
  // Meta page 0: the page header is 24 bytes; magic at 24, version at 28, page size at 48.
  assert.match(await reason(await damaged((file) => poke(file, 24, uint32(0x12345678)))), 'meta page 0: magic 0x12345678');
  assert.match(await reason(await damaged((file) => poke(file, 28, uint32(1)))), 'meta page 0: data format version 1');
  assert.match(await reason(await damaged((file) => poke(file, 48, uint32(1000)))), 'meta page 0: page size 1000');
  assert.match(await reason(await damaged((file) => poke(file, 18, Buffer.from([0, 0])))), 'meta page 0: not a meta page');
});

test('a damaged meta page 1, a file shorter than two pages and a root page past the end are named', async () => {
  assert.match(await reason(await damaged((file) => poke(file, 4096 + 24, uint32(0)))), 'meta page 1: magic 0x0');
  assert.match(await reason(await damaged((file) => truncate(file, 4096))), 'shorter than LMDB\'s two meta pages');
  assert.match(await reason(await damaged(async (file) => truncate(file, Math.floor((await stat(file)).size / 2)))), 'past the end of the file');
});

test('records overwritten behind sound meta pages fail the full read in the child process, not this one', async () => {
  const dir = await damaged(async (file) => {
    const { size } = await stat(file);
    await poke(file, 2 * 4096, Buffer.alloc(size - 2 * 4096, 0x5a));
  });
  assert.match(await reason(dir), /reading its records (failed|killed the checking process)/);
});

test.run();
