// Log files as a log source, on real files: the last lines of each, their unit, priority
// prefix and leading time; the filters; a huge (sparse) file of which only the tail is
// read; a follow that gets only the appended whole lines, and a file rotated under it
// read again from its start.

import { appendFile, open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileLogSource, parseLogLine, type FilePositions } from '../../../src/agent/file-log-source.js';
import { tempDir } from './fake-gateway.js';

test('parseLogLine: a leading RFC 3339 time and a <N> prefix are taken out; else the fallback time and priority 6', () => {
  assert.equal(parseLogLine('2026-12-06T12:00:00.5Z <3>disk on fire', 'app.log', 0), {
    at: '2026-12-06T12:00:00.500Z', unit: 'app.log', priority: 3, message: 'disk on fire',
  });
  assert.equal(parseLogLine('plain line\r', 'app.log', Date.UTC(2026, 0, 1)), {
    at: '2026-01-01T00:00:00.000Z', unit: 'app.log', priority: 6, message: 'plain line',
  });
});

test('tails: the newest lines of each file by time, filtered by unit, priority and since; truncated when more were there', async () => {
  const temp = await tempDir('coap-fleet-files-');
  try {
    const app = join(temp.path, 'app.log');
    const db = join(temp.path, 'db.log');
    await writeFile(app, Array.from({ length: 50 }, (_, i) => `2026-12-06T12:00:${String(i).padStart(2, '0')}Z ${i % 10 === 0 ? '<3>' : ''}app ${i}`).join('\n') + '\n');
    await writeFile(db, '2026-12-06T12:00:30.5Z <4>db slow\n2026-12-06T12:00:48.5Z db ok\n');
    const source = new FileLogSource([app, db, join(temp.path, 'not-yet.log')]);
    const all = await source.read({ lines: 4 });
    assert.equal(all.entries.map((entry) => `${entry.unit}: ${entry.message}`), ['app.log: app 47', 'app.log: app 48', 'db.log: db ok', 'app.log: app 49']);
    assert.is(all.truncated, true);
    const errors = await source.read({ lines: 100, priority: 4 });
    assert.equal(errors.entries.map((entry) => entry.message), ['app 0', 'app 10', 'app 20', 'app 30', 'db slow', 'app 40']);
    const dbOnly = await source.read({ lines: 100, unit: 'db.log' });
    assert.equal(dbOnly.entries.map((entry) => entry.message), ['db slow', 'db ok']);
    assert.is(dbOnly.truncated, false);
    const recent = await source.read({ lines: 100, unit: 'app.log', sinceMs: Date.parse('2026-12-06T12:00:47Z') });
    assert.equal(recent.entries.map((entry) => entry.message), ['app 47', 'app 48', 'app 49']);
  } finally {
    await temp.remove();
  }
});

test('a 4 GiB file: only its tail is read, and a line being written is left for later', async () => {
  const temp = await tempDir('coap-fleet-files-');
  try {
    const big = join(temp.path, 'big.log');
    // Sparse: 4 GiB of zeros that take no disk, which a whole-file read could not hold.
    const handle = await open(big, 'w');
    await handle.truncate(4 * 1024 ** 3);
    await handle.close();
    await appendFile(big, '\n' + Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n') + '\nhalf a li');
    const source = new FileLogSource([big], { maxReadBytes: 64 * 1024 });
    const started = process.hrtime.bigint();
    const read = await source.read({ lines: 1000 });
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.is(read.entries.length, 1000);
    assert.is(read.entries[0]!.message, 'line 2000');
    assert.is(read.entries[999]!.message, 'line 2999');
    assert.is(read.truncated, true);
    assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms: more than the tail was read`);
    const small = await new FileLogSource([big], { maxReadBytes: 1024 }).read({ lines: 1000 });
    assert.ok(small.entries.length > 50 && small.entries.length < 150, `${small.entries.length} lines in 1 KiB`);
    assert.is(small.entries.at(-1)!.message, 'line 2999');
    assert.ok(small.entries.every((entry) => /^line \d+$/.test(entry.message)), 'no cut first line');
  } finally {
    await temp.remove();
  }
});

test('a follow gets only the appended whole lines; a rotated file is read from its start', async () => {
  const temp = await tempDir('coap-fleet-files-');
  try {
    const app = join(temp.path, 'app.log');
    await writeFile(app, 'old 1\nold 2\n');
    let now = Date.UTC(2026, 11, 6, 12);
    const source = new FileLogSource([app], { wallTime: () => now });
    const first = await source.read({ lines: 10 });
    assert.equal(first.entries.map((entry) => entry.message), ['old 1', 'old 2']);
    assert.equal((await source.readAfter({ lines: 10 }, first.cursor)).entries, [], 'nothing new yet');
    await appendFile(app, 'new 1\n<2>new 2\nhal');
    now += 1000;
    const next = await source.readAfter({ lines: 10 }, first.cursor);
    assert.equal(next.entries, [
      { at: new Date(now).toISOString(), unit: 'app.log', priority: 6, message: 'new 1' },
      { at: new Date(now).toISOString(), unit: 'app.log', priority: 2, message: 'new 2' },
    ]);
    await appendFile(app, 'f\n');
    const rest = await source.readAfter({ lines: 10, priority: 6 }, next.cursor);
    assert.equal(rest.entries.map((entry) => entry.message), ['half']);
    await rename(app, `${app}.1`);
    await writeFile(app, 'fresh\n');
    const rotated = await source.readAfter({ lines: 10 }, rest.cursor);
    assert.equal(rotated.entries.map((entry) => entry.message), ['fresh']);
    const positions: FilePositions = rotated.cursor;
    assert.is(positions.get(app)?.offset, 'fresh\n'.length);
  } finally {
    await temp.remove();
  }
});

test.run();
