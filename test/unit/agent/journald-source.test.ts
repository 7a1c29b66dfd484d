// The journal as a log source: journalctl's JSON lines read into entries (byte-array
// messages, missing fields, repeated fields), and a fake `journalctl` the test writes onto
// PATH, run as a real process: the query's filters as its arguments, a follow after the
// last cursor, one that hangs (killed within the limit) and one that floods its output
// (stopped at the bound, the entries before it kept).

import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogSourceError } from '../../../src/agent/errors.js';
import { JournaldSource, parseJournalLine } from '../../../src/agent/journald-source.js';
import { waitFor } from '../../helpers/wait.js';
import { tempDir } from './fake-gateway.js';

test('parseJournalLine: time in µs, unit or identifier, priority, a message given as bytes', () => {
  const line = JSON.stringify({
    __CURSOR: 's=abc;i=1', __REALTIME_TIMESTAMP: '1765022400123456', PRIORITY: '3', _SYSTEMD_UNIT: 'app.service', SYSLOG_IDENTIFIER: 'app',
    MESSAGE: [...Buffer.from('caf\u00e9 \u001b[1m')],
  });
  assert.equal(parseJournalLine(line), {
    entry: { at: '2025-12-06T12:00:00.123Z', unit: 'app.service', priority: 3, message: 'caf\u00e9 \u001b[1m' },
    cursor: 's=abc;i=1',
  });
});

test('parseJournalLine: missing fields get defaults; the identifier stands in for the unit; a repeated field gives its first value', () => {
  assert.equal(parseJournalLine('{"MESSAGE":"kernel says hi"}')?.entry, { at: '1970-01-01T00:00:00.000Z', unit: null, priority: 6, message: 'kernel says hi' });
  assert.equal(parseJournalLine('{"SYSLOG_IDENTIFIER":"kernel","PRIORITY":"9","MESSAGE":null}')?.entry, {
    at: '1970-01-01T00:00:00.000Z', unit: 'kernel', priority: 6, message: '',
  });
  assert.is(parseJournalLine('{"MESSAGE":["first","second"]}')?.entry.message, 'first');
  assert.is(parseJournalLine(''), undefined);
  assert.is(parseJournalLine('{"MESSAGE":"cut'), undefined);
  assert.is(parseJournalLine('[1,2]'), undefined);
});

/** A `journalctl` on PATH for the body of `run`, which writes its arguments to `args`. */
async function withFakeJournalctl(script: string, run: (dir: string) => Promise<void>): Promise<void> {
  const temp = await tempDir('coap-fleet-journalctl-');
  const path = process.env.PATH;
  try {
    const program = join(temp.path, 'journalctl');
    await writeFile(program, `#!/bin/sh\necho $$ > "${temp.path}/pid"\nprintf '%s\\n' "$@" > "${temp.path}/args"\n${script}\n`);
    await chmod(program, 0o755);
    process.env.PATH = `${temp.path}:${path ?? ''}`;
    await run(temp.path);
  } finally {
    process.env.PATH = path;
    await temp.remove();
  }
}

const entryLine = (cursor: string, seconds: number, message: string): string => JSON.stringify({
  __CURSOR: cursor, __REALTIME_TIMESTAMP: String(seconds * 1_000_000), PRIORITY: '6', _SYSTEMD_UNIT: 'app.service', MESSAGE: message,
});

test('the query as journalctl options; a follow goes on after the last cursor, or from its start when there was none', async () => {
  const lines = [entryLine('c1', 1_765_022_400, 'one'), entryLine('c2', 1_765_022_401, 'two')];
  await withFakeJournalctl(`cat <<'EOF'\n${lines.join('\n')}\nEOF`, async (dir) => {
    const source = new JournaldSource({ wallTime: () => 1_765_022_500_000 });
    const read = await source.read({ unit: 'app.service', priority: 4, sinceMs: 1_765_022_000_999, lines: 10 });
    assert.equal(read.entries.map((entry) => entry.message), ['one', 'two']);
    assert.is(read.truncated, false);
    const args = (await readFile(join(dir, 'args'), 'utf8')).trim().split('\n');
    assert.equal(args.slice(0, 3), ['-o', 'json', '--no-pager']);
    assert.equal(args.slice(args.indexOf('-u'), args.indexOf('-u') + 2), ['-u', 'app.service']);
    assert.equal(args.slice(args.indexOf('-p'), args.indexOf('-p') + 2), ['-p', '4']);
    assert.equal(args.slice(args.indexOf('--since'), args.indexOf('--since') + 2), ['--since', '@1765022000']);
    assert.equal(args.slice(args.indexOf('-n'), args.indexOf('-n') + 2), ['-n', '10']);
    const midSecond = await source.read({ sinceMs: 1_765_022_400_500, lines: 10 });
    assert.equal(midSecond.entries.map((entry) => entry.message), ['two'], '--since takes whole seconds: the earlier entry of that second goes');

    await source.readAfter({ lines: 10 }, read.cursor);
    const followArgs = (await readFile(join(dir, 'args'), 'utf8')).trim().split('\n');
    assert.equal(followArgs.slice(followArgs.indexOf('--after-cursor'), followArgs.indexOf('--after-cursor') + 2), ['--after-cursor', 'c2']);
    assert.not.ok(followArgs.includes('--since'));

    await source.readAfter({ lines: 10 }, { after: undefined, sinceMs: 1_765_022_500_000 });
    const fromStart = (await readFile(join(dir, 'args'), 'utf8')).trim().split('\n');
    assert.equal(fromStart.slice(fromStart.indexOf('--since'), fromStart.indexOf('--since') + 2), ['--since', '@1765022500']);
  });
});

test('as many entries as lines: truncated (more may have matched)', async () => {
  await withFakeJournalctl(`echo '${entryLine('c1', 1, 'a')}'\necho '${entryLine('c2', 2, 'b')}'`, async () => {
    const read = await new JournaldSource().read({ lines: 2 });
    assert.is(read.entries.length, 2);
    assert.is(read.truncated, true);
  });
});

test('a journalctl that hangs is killed within the limit: LogSourceError, the process gone', async () => {
  await withFakeJournalctl('exec sleep 60', async (dir) => {
    const started = Date.now();
    const error = await new JournaldSource({ timeoutMs: 300 }).read({ lines: 10 }).then(() => undefined, (caught: unknown) => caught);
    assert.ok(error instanceof LogSourceError, String(error));
    assert.match((error as Error).message, /timed out after 0.3 s/);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    const pid = Number((await readFile(join(dir, 'pid'), 'utf8')).trim());
    await waitFor('the hung journalctl to be gone', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });
});

test('a journalctl that floods its output is stopped at the byte bound; the whole entries before it are kept, truncated', async () => {
  await withFakeJournalctl(`exec yes '${entryLine('c', 1, 'flood')}'`, async () => {
    const read = await new JournaldSource({ maxOutputBytes: 64 * 1024, timeoutMs: 10_000 }).read({ lines: 1000 });
    const lineBytes = entryLine('c', 1, 'flood').length + 1;
    assert.is(read.entries.length, Math.floor(64 * 1024 / lineBytes));
    assert.ok(read.entries.every((entry) => entry.message === 'flood'));
    assert.is(read.truncated, true);
  });
});

test('a journalctl that fails: LogSourceError with its exit status and what it said', async () => {
  await withFakeJournalctl("echo 'No journal files were found.' >&2; exit 1", async () => {
    const error = await new JournaldSource().read({ lines: 10 }).then(() => undefined, (caught: unknown) => caught);
    assert.ok(error instanceof LogSourceError);
    assert.match((error as Error).message, /journalctl exited 1: No journal files were found\./);
  });
});

test.run();
