// Programs the agent reads from, run as real processes: the output is kept up to its
// bound, a program that exits while something it started holds its output open still
// ends the run, and one that cannot start says why.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeProgramFailure, runProgram } from '../../../src/agent/run-program.js';

test('the output and exit status of a program, its arguments never through a shell', async () => {
  const result = await runProgram('/bin/echo', ['$HOME', '; rm -rf /'], { timeoutMs: 5000, maxOutputBytes: 1024 });
  assert.is(result.exitCode, 0);
  assert.is(result.stdout.toString('utf8'), '$HOME ; rm -rf /\n');
  assert.is(result.overflowed, false);
});

test('a program that exits while a child it left holds the output open: the run ends soon after the exit', async () => {
  const started = Date.now();
  const result = await runProgram('/bin/sh', ['-c', 'echo hi; sleep 3 & exit 4'], { timeoutMs: 10_000, maxOutputBytes: 1024 });
  assert.ok(Date.now() - started < 2900, `took ${Date.now() - started} ms`);
  assert.is(result.exitCode, 4);
  assert.is(result.stdout.toString('utf8'), 'hi\n');
  assert.is(result.timedOut, false);
});

test('a program that cannot start: the reason, no exit status', async () => {
  const result = await runProgram('/nonexistent/journalctl', [], { timeoutMs: 1000, maxOutputBytes: 1024 });
  assert.is(result.exitCode, null);
  assert.match(describeProgramFailure('journalctl', result, 1000), /^journalctl could not start: .*ENOENT/);
});

test.run();
