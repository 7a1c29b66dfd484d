// The test command (`npm test`): prepares a fresh clone, builds, runs every uvu test file
// under test/ in its own process (bounded in time), and ends with `N passed, N failed`.
// `--tier unit|interop|e2e` (repeatable) picks tiers; other arguments filter test files by
// substring: `npm test -- codec interop/`. Debian packages are installed only for the
// tiers that run.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { build } from './build.mjs';
import { BROWSER_PACKAGES, ensureDebianPackages, INTEROP_PACKAGES, OPENSSL_PACKAGES, root } from './prepare.mjs';

const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000);

/** Each tier: the folders under test/ it runs and the commands its tests call. */
const TIERS = {
  unit: { dirs: ['unit', 'property'], packages: OPENSSL_PACKAGES },
  interop: { dirs: ['interop'], packages: INTEROP_PACKAGES },
  e2e: { dirs: ['integration', 'e2e'], packages: [...OPENSSL_PACKAGES, ...BROWSER_PACKAGES] },
};

function parseArguments(args) {
  const tiers = [];
  const filters = [];
  for (let index = 0; index < args.length; index++) {
    if (args[index] !== '--tier') {
      filters.push(args[index]);
      continue;
    }
    const tier = args[++index];
    if (!Object.hasOwn(TIERS, tier)) throw new Error(`--tier takes one of ${Object.keys(TIERS).join(', ')}, not ${tier}`);
    tiers.push(tier);
  }
  return { tiers: tiers.length === 0 ? Object.keys(TIERS) : tiers, filters };
}

const { tiers, filters } = parseArguments(process.argv.slice(2));
const tierOf = (file) => Object.keys(TIERS).find((tier) => TIERS[tier].dirs.some((dir) => file.startsWith(join('dist', 'test', dir) + '/')));

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

await build();
const allFiles = findTests(join(root, 'dist', 'test')).map((path) => relative(root, path));
const untiered = allFiles.filter((path) => tierOf(path) === undefined);
if (untiered.length > 0) throw new Error(`test files outside every tier (add their folder to TIERS): ${untiered.join(', ')}`);
const files = allFiles
  .filter((path) => tiers.includes(tierOf(path)))
  .filter((path) => filters.length === 0 || filters.some((filter) => path.includes(filter)))
  .sort();
for (const tier of new Set(files.map(tierOf))) ensureDebianPackages(TIERS[tier].packages);

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
