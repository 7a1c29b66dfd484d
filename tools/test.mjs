// The test command (`npm test`): prepares a fresh clone, builds, runs every uvu test file
// under test/ in its own process (bounded in time), and ends with `N passed, N failed`.
// Arguments filter test files by substring: `npm test -- codec interop/`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { build } from './build.mjs';
import { ensureDebianPackages, INTEROP_PACKAGES, root } from './prepare.mjs';

const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000);
const filters = process.argv.slice(2);

ensureDebianPackages(INTEROP_PACKAGES);
await build();

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = findTests(join(root, 'dist', 'test'))
  .map((path) => relative(root, path))
  .filter((path) => filters.length === 0 || filters.some((filter) => path.includes(filter)))
  .sort();

// uvu prints its totals per file; strip colour codes before reading them.
const stripAnsi = (text) => text.replace(/\u001b\[[0-9;]*m/g, '');

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: root, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, FILE_TIMEOUT_MS);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      const text = stripAnsi(output);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      let result;
      if (timedOut) result = { passed: Number.isNaN(passed) ? 0 : passed, failed: 1, note: `timed out after ${FILE_TIMEOUT_MS} ms` };
      else if (Number.isNaN(total)) result = { passed: 0, failed: 1, note: `exited ${exitCode} without uvu totals` };
      else {
        const failed = total - passed - skipped;
        // A file whose tests all passed but that exited non-zero (a crash after run) fails.
        result = { passed, failed: failed === 0 && exitCode !== 0 ? 1 : failed, note: exitCode !== 0 ? `exit ${exitCode}` : '' };
      }
      resolve({ file, text, seconds: (Date.now() - started) / 1000, ...result });
    });
  });
}

const results = [];
const queue = [...files];
const workers = Array.from({ length: Math.max(1, Math.min(availableParallelism(), 4)) }, async () => {
  while (queue.length > 0) {
    const result = await runFile(queue.shift());
    results.push(result);
    const mark = result.failed === 0 ? 'ok  ' : 'FAIL';
    process.stdout.write(`${mark} ${result.file} ${result.passed} passed, ${result.failed} failed (${result.seconds.toFixed(1)}s)${result.note ? ` ${result.note}` : ''}\n`);
    if (result.failed > 0 || process.env.TEST_VERBOSE) process.stdout.write(`${result.text.replace(/^/gm, '    ')}\n`);
  }
});
await Promise.all(workers);

const passed = results.reduce((sum, result) => sum + result.passed, 0);
const failed = results.reduce((sum, result) => sum + result.failed, 0);
if (files.length === 0) process.stdout.write('no test files matched\n');
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
