// Makes a fresh clone ready to build and test: npm packages from the lockfile when they
// are missing or stale, and, when running as root, the Debian packages that the interop
// tests use. Imported by build.mjs and test.mjs; plain JavaScript so it runs before tsc.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const say = (text) => process.stderr.write(`[prepare] ${text}\n`);

/** Whether node_modules lacks a package of the lockfile, or has another version of one.
 * By content, not file times: a copied tree has new times and the same packages. */
function npmPackagesStale() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (!path.startsWith('node_modules/') || path.includes('/node_modules/', 13) || entry.optional) continue;
    const manifest = join(root, path, 'package.json');
    if (!existsSync(manifest)) return true;
    if (JSON.parse(readFileSync(manifest, 'utf8')).version !== entry.version) return true;
  }
  return false;
}

export function ensureNpmPackages() {
  if (!npmPackagesStale()) return;
  if (lstatSync(join(root, 'node_modules'), { throwIfNoEntry: false })?.isSymbolicLink()) {
    // `npm ci` would empty the tree the link points to, another checkout's.
    throw new Error('node_modules is a symbolic link and out of date: run npm ci where it points');
  }
  say('installing npm packages (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** Installs Debian packages that provide the given commands, when root and missing. */
export function ensureDebianPackages(wanted) {
  const missing = wanted.filter(({ command }) => !has(command));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(({ pkg }) => pkg))];
  if (process.getuid?.() !== 0) {
    say(`missing ${missing.map(({ command }) => command).join(', ')}: run as root, or apt-get install ${packages.join(' ')}`);
    return;
  }
  say(`installing Debian packages: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'inherit', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'inherit', 'inherit'], env,
  });
}

export const OPENSSL_PACKAGES = [{ command: 'openssl', pkg: 'openssl' }];

/** The end-to-end tier's: the systemd tests verify the units and run the daemons under a
 * NOTIFY_SOCKET (systemd-notify; perl is in Debian's base), which a fresh Debian 12 image
 * without systemd lacks; the dashboard's browser tests (issue 15) drive Debian's chromium
 * with playwright-core. */
export const E2E_PACKAGES = [
  ...OPENSSL_PACKAGES,
  { command: 'systemd-analyze', pkg: 'systemd' },
  { command: 'systemd-notify', pkg: 'systemd' },
  { command: 'chromium', pkg: 'chromium' },
];

export const INTEROP_PACKAGES = [
  { command: 'coap-client-notls', pkg: 'libcoap3-bin' },
  { command: 'coap-server-notls', pkg: 'libcoap3-bin' },
  { command: 'coap-client-openssl', pkg: 'libcoap3-bin' },
  { command: 'openssl', pkg: 'openssl' },
];
