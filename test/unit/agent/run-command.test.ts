// Hooks as real processes through /bin/sh: the time limit bounds the hook's own process
// whatever its children do, a hook that exits 0 has succeeded even if a daemon it started
// holds its output open, and on timeout the hook's process group is killed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KILL_GRACE_MS, runCommand } from '../../../src/agent/run-command.js';
import { killMarked, markedProcesses, processMarker, waitUntilGone } from '../../helpers/processes.js';

test('"sleep 30 & exit 0" (starting a daemon) succeeds at once, its output kept; the daemon is left running', async () => {
  const marker = processMarker();
  try {
    const started = Date.now();
    const result = await runCommand('echo starting; sleep 30 & exit 0', { env: marker.env, timeoutMs: 10_000 });
    const elapsed = Date.now() - started;
    assert.equal({ ok: result.ok, exitCode: result.exitCode, timedOut: result.timedOut, output: result.output },
      { ok: true, exitCode: 0, timedOut: false, output: 'starting' });
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.is((await markedProcesses(marker.value)).length, 1, 'the daemon still runs');
  } finally {
    await killMarked(marker.value);
  }
});

test('"setsid sleep 60" with a 1 s limit fails as timed out within a bounded time, whatever its child in a new session does', async () => {
  const marker = processMarker();
  try {
    const started = Date.now();
    const result = await runCommand('setsid sleep 60', { env: marker.env, timeoutMs: 1000 });
    const elapsed = Date.now() - started;
    assert.is(result.ok, false);
    assert.is(result.timedOut, true);
    assert.ok(elapsed >= 1000 && elapsed < 1000 + KILL_GRACE_MS + 10_000, `took ${elapsed} ms`);
  } finally {
    await killMarked(marker.value);
  }
});

test('"sleep 60" past its limit is killed with its process group: the processes are gone', async () => {
  const marker = processMarker();
  try {
    const started = Date.now();
    const result = await runCommand('sleep 60; echo never', { env: marker.env, timeoutMs: 500 });
    assert.is(result.timedOut, true);
    assert.ok(Date.now() - started < 15_000);
    await waitUntilGone(marker.value, 10_000);
  } finally {
    await killMarked(marker.value);
  }
});

test('a hook that ignores SIGTERM is killed after the grace', async () => {
  const marker = processMarker();
  try {
    const started = Date.now();
    const result = await runCommand('trap "" TERM; sleep 60; echo never', { env: marker.env, timeoutMs: 500 });
    const elapsed = Date.now() - started;
    assert.is(result.timedOut, true);
    assert.ok(elapsed >= 500 + KILL_GRACE_MS - 100 && elapsed < 15_000, `took ${elapsed} ms`);
    await waitUntilGone(marker.value, 10_000);
  } finally {
    await killMarked(marker.value);
  }
});

test('a failing hook reports its exit status and the tail of its output', async () => {
  const result = await runCommand('echo out; echo "some trouble" >&2; exit 3', { env: {}, timeoutMs: 10_000 });
  assert.equal({ ok: result.ok, exitCode: result.exitCode, timedOut: result.timedOut }, { ok: false, exitCode: 3, timedOut: false });
  assert.ok(result.output.includes('some trouble'), result.output);
  const long = await runCommand('head -c 100000 /dev/zero | tr "\\0" x; echo END', { env: {}, timeoutMs: 10_000 });
  assert.ok(long.output.length <= 400 && long.output.endsWith('END'), `${long.output.length} chars`);
});

test.run();
