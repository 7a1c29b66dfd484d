// Builds build/mbedtls-dtls.wasm, the DTLS 1.2 module of src/dtls (DESIGN §4): Debian's
// mbedtls 3.6 source package (fetched with a private apt configuration, sha256 pinned),
// compiled freestanding with clang-14 for wasm32 with our config, libc shim and glue from
// tools/mbedtls/, and linked with wasm-ld-14. No emscripten, no libc, no native addon.
// Rebuilds only when the module is missing or older than its inputs; `--force` rebuilds.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const glueDir = join(root, 'tools', 'mbedtls');
const buildDir = join(root, 'build');
const sourceDir = join(buildDir, 'mbedtls-src');
const objectDir = join(buildDir, 'mbedtls-obj');
export const wasmPath = join(buildDir, 'mbedtls-dtls.wasm');
/** The same objects plus test-only exports (tools/mbedtls/fleet_libc_test.c), for the
 * tests of the libc shim; never shipped. */
export const testWasmPath = join(buildDir, 'mbedtls-dtls-test.wasm');

// The Debian 13 (trixie) source package of the 3.6 LTS line. A different tarball is an
// error, never silently used: update these three lines together after checking it.
const MBEDTLS_VERSION = '3.6.6';
const MBEDTLS_TARBALL = `mbedtls_${MBEDTLS_VERSION}.orig.tar.bz2`;
const MBEDTLS_SHA256 = '8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a';
const DEBIAN_SUITE = 'trixie';

const CLANG = 'clang-14';
const WASM_LD = 'wasm-ld-14';

// The library files DTLS 1.2 with our config needs; ssl_msg.c is compiled through
// tools/mbedtls/fleet_listener.c (it reuses a static function of it).
const LIBRARY_FILES = [
  'aes.c', 'asn1parse.c', 'asn1write.c', 'base64.c', 'bignum.c', 'bignum_core.c', 'ccm.c',
  'chacha20.c', 'chachapoly.c', 'cipher.c', 'cipher_wrap.c', 'constant_time.c', 'ctr_drbg.c', 'ecdh.c', 'ecdsa.c', 'ecp.c',
  'ecp_curves.c', 'md.c', 'oid.c', 'pem.c', 'pk.c', 'pk_ecc.c', 'pk_wrap.c', 'pkparse.c',
  'platform.c', 'platform_util.c', 'poly1305.c', 'sha256.c', 'ssl_ciphersuites.c', 'ssl_client.c',
  'ssl_cookie.c', 'ssl_tls.c', 'ssl_tls12_client.c', 'ssl_tls12_server.c', 'x509.c',
  'x509_crt.c',
];
const GLUE_FILES = ['fleet_libc.c', 'fleet_malloc.c', 'fleet_dtls.c', 'fleet_listener.c'];
const TEST_GLUE_FILES = ['fleet_libc_test.c'];
/** The libc shim and the allocator implement memcpy, calloc and friends: freestanding, so
 * clang never turns them into calls to themselves (a malloc and memset into calloc). */
const FREESTANDING_FILES = ['fleet_libc.c', 'fleet_malloc.c', 'fleet_libc_test.c'];

const say = (text) => process.stderr.write(`[build-wasm] ${text}\n`);

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function ensureCompiler() {
  if (has(CLANG) && has(WASM_LD)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${CLANG} and ${WASM_LD} are needed to build ${wasmPath}: run as root, or apt-get install clang-14 lld-14`);
  }
  say('installing clang-14 and lld-14');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'inherit', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'clang-14', 'lld-14'], {
    stdio: ['ignore', 'inherit', 'inherit'], env,
  });
}

/** The Debian mirror the machine already uses, from its apt sources. */
function debianMirror() {
  const files = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const name of readdirSync('/etc/apt/sources.list.d')) {
      if (/\.(list|sources)$/.test(name)) files.push(join('/etc/apt/sources.list.d', name));
    }
  }
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    // deb822 (`URIs: http://…/debian`) and one-line (`deb http://…/debian bookworm main`).
    const found = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text) ?? /^deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(text);
    if (found) return found[1];
  }
  return 'http://deb.debian.org/debian';
}

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Downloads the source package with a private apt configuration: the system's sources,
 * lists and archive cache are never touched. */
function fetchSource() {
  const downloads = join(sourceDir, 'dl');
  const tarball = join(downloads, MBEDTLS_TARBALL);
  if (!existsSync(tarball)) {
    const aptDir = join(sourceDir, 'apt');
    for (const dir of [join(aptDir, 'lists', 'partial'), join(aptDir, 'archives', 'partial'), join(aptDir, 'cache'), downloads]) {
      mkdirSync(dir, { recursive: true });
    }
    const sourcesList = join(aptDir, 'sources.list');
    const mirror = debianMirror();
    writeFileSync(sourcesList,
      `deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${DEBIAN_SUITE} main\n`);
    const options = [
      '-o', `Dir::Etc::SourceList=${sourcesList}`,
      '-o', 'Dir::Etc::SourceParts=/dev/null',
      '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`,
      '-o', `Dir::Cache=${join(aptDir, 'cache')}`,
      '-o', `Dir::Cache::Archives=${join(aptDir, 'archives')}`,
      '-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache=',
      // apt's _apt sandbox user cannot write into a root-owned scratch folder; downloads are
      // checked against the signed Sources index and our pinned sha256 either way.
      ...(process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : []),
    ];
    say(`fetching Debian's mbedtls source package (${DEBIAN_SUITE}) from ${mirror}`);
    execFileSync('apt-get', [...options, '-qq', 'update'], { stdio: ['ignore', 'inherit', 'inherit'] });
    execFileSync('apt-get', [...options, '-qq', 'source', '--download-only', 'mbedtls'], {
      cwd: downloads, stdio: ['ignore', 'inherit', 'inherit'],
    });
    rmSync(join(aptDir, 'lists'), { recursive: true, force: true }); // 20+ MB of indexes, needed once
    if (!existsSync(tarball)) {
      const got = readdirSync(downloads).filter((name) => name.endsWith('.orig.tar.bz2') || name.endsWith('.orig.tar.xz') || name.endsWith('.orig.tar.gz'));
      throw new Error(`expected ${MBEDTLS_TARBALL} from Debian ${DEBIAN_SUITE}, got ${got.join(', ') || 'nothing'}: `
        + 'the archive moved to another mbedtls release; check it and update MBEDTLS_VERSION and MBEDTLS_SHA256 in tools/build-wasm.mjs');
    }
  }
  const digest = sha256(tarball);
  if (digest !== MBEDTLS_SHA256) {
    throw new Error(`sha256 mismatch for ${tarball}: expected ${MBEDTLS_SHA256}, got ${digest}; refusing to build (delete the file to fetch it again)`);
  }
  const tree = join(sourceDir, `mbedtls-${MBEDTLS_VERSION}`);
  const marker = join(tree, '.fleet-extracted');
  if (!existsSync(marker)) {
    rmSync(tree, { recursive: true, force: true });
    say(`extracting ${MBEDTLS_TARBALL}`);
    execFileSync('tar', ['-xjf', tarball, '-C', sourceDir, `mbedtls-${MBEDTLS_VERSION}/include`, `mbedtls-${MBEDTLS_VERSION}/library`, `mbedtls-${MBEDTLS_VERSION}/LICENSE`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    writeFileSync(marker, `${MBEDTLS_SHA256}\n`);
  }
  return tree;
}

function newestInput() {
  const inputs = [fileURLToPath(import.meta.url)];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else inputs.push(path);
    }
  };
  walk(glueDir);
  return Math.max(...inputs.map((path) => statSync(path).mtimeMs));
}

/** Exported functions are the ones marked FLEET_API in the glue. */
function exportedNames(files) {
  const names = new Set();
  for (const file of files) {
    const text = readFileSync(join(glueDir, file), 'utf8');
    for (const match of text.matchAll(/FLEET_API\s+[^;{(]*?\b(fleet_\w+)\s*\(/g)) names.add(match[1]);
  }
  return [...names].sort();
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) {
        if (stderr.trim() !== '') process.stderr.write(stderr);
        resolve();
      } else reject(new Error(`${command} ${args.at(-1)} failed (exit ${code}):\n${stderr}`));
    });
  });
}

async function compileAll(tree) {
  rmSync(objectDir, { recursive: true, force: true });
  mkdirSync(objectDir, { recursive: true });
  // Record cost (issue 14): -O3, and mbedTLS compiled as hosted code, not -ffreestanding
  // (which implies -fno-builtin): its unaligned loads and stores are memcpy(…, 4 or 8),
  // one load or store only when clang may treat memcpy as the builtin, else a call per
  // word of every AES block (a third of the module's time per record). Bulk memory: large
  // copies are one memory.copy.
  const flags = [
    '--target=wasm32', '-O3', '-mbulk-memory', '-nostdlibinc', '-fvisibility=hidden',
    '-ffunction-sections', '-fdata-sections', '-std=c99', '-Wall', '-Werror=implicit-function-declaration',
    // An argument vector, never a shell line: the quotes are part of the macro's value.
    '-DMBEDTLS_CONFIG_FILE="fleet_mbedtls_config.h"',
    '-isystem', join(glueDir, 'include'),
    '-I', glueDir, '-I', join(tree, 'include'), '-I', join(tree, 'library'),
  ];
  const units = [
    ...LIBRARY_FILES.map((file) => ({ source: join(tree, 'library', file), object: join(objectDir, file.replace(/\.c$/, '.o')) })),
    ...[...GLUE_FILES, ...TEST_GLUE_FILES].map((file) => ({ source: join(glueDir, file), object: join(objectDir, file.replace(/\.c$/, '.o')) })),
  ];
  const jobs = Math.max(1, Math.min(availableParallelism(), Number(process.env.FLEET_WASM_JOBS ?? 2)));
  const queue = [...units];
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (queue.length > 0) {
      const unit = queue.shift();
      const own = FREESTANDING_FILES.some((file) => unit.source.endsWith(`/${file}`)) ? ['-ffreestanding', '-fno-builtin'] : [];
      await run(CLANG, [...flags, ...own, '-c', '-o', unit.object, unit.source]);
    }
  }));
  const testObjects = new Set(TEST_GLUE_FILES.map((file) => join(objectDir, file.replace(/\.c$/, '.o'))));
  const objects = units.map((unit) => unit.object);
  return { module: objects.filter((object) => !testObjects.has(object)), test: objects };
}

async function link(objects, glueFiles, output) {
  const exports = exportedNames(glueFiles);
  await run(WASM_LD, [
    '--no-entry', '--stack-first', '-z', 'stack-size=65536', '--gc-sections', '--strip-all',
    `--allow-undefined-file=${join(glueDir, 'imports.txt')}`,
    ...exports.map((name) => `--export=${name}`),
    '-o', output, ...objects,
  ]);
  return exports;
}

/** Checks the linked module imports only the allowed host functions and exports the API. */
async function verify(output, exports) {
  const module = await WebAssembly.compile(readFileSync(output));
  const allowed = new Set(readFileSync(join(glueDir, 'imports.txt'), 'utf8').split('\n').map((line) => line.trim()).filter(Boolean));
  const unexpected = WebAssembly.Module.imports(module).filter((entry) => entry.module !== 'env' || !allowed.has(entry.name));
  if (unexpected.length > 0) throw new Error(`unexpected imports in ${output}: ${unexpected.map((entry) => `${entry.module}.${entry.name}`).join(', ')}`);
  const present = new Set(WebAssembly.Module.exports(module).map((entry) => entry.name));
  const missing = [...exports, 'memory'].filter((name) => !present.has(name));
  if (missing.length > 0) throw new Error(`missing exports in ${output}: ${missing.join(', ')}`);
}

const isFresh = () => [wasmPath, testWasmPath].every((path) => existsSync(path) && statSync(path).mtimeMs >= newestInput());

const lockDir = join(buildDir, '.mbedtls-dtls.lock');
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function lockOwnerGone() {
  try {
    const pid = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // ESRCH: the owner died mid-build; no pid file yet: give the owner a moment.
    if (error.code === 'ESRCH') return true;
    return error.code === 'ENOENT' && Date.now() - statSync(lockDir).mtimeMs > 10_000;
  }
}

/** Test files run in parallel and may all find the module missing: one builds, the others
 * wait for it (a directory is created atomically; a dead owner's lock is taken over). */
async function withBuildLock(build) {
  mkdirSync(buildDir, { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    try {
      if (lockOwnerGone()) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
    } catch { /* the lock went away meanwhile */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for another build of the DTLS module (remove ${lockDir} if none runs)`);
    await sleep(250);
  }
  try {
    return await build();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

export async function buildWasm({ force = false } = {}) {
  if (!force && isFresh()) return wasmPath;
  return withBuildLock(async () => {
    if (!force && isFresh()) return wasmPath; // built by whoever held the lock
    return buildLocked();
  });
}

async function linkChecked(objects, glueFiles, output) {
  const partial = `${output}.${process.pid}.tmp`;
  try {
    const exports = await link(objects, glueFiles, partial);
    await verify(partial, exports);
    renameSync(partial, output); // atomic: a concurrent reader never sees half a module
  } finally {
    rmSync(partial, { force: true });
  }
}

async function buildLocked() {
  const started = Date.now();
  ensureCompiler();
  const tree = fetchSource();
  say(`compiling mbedTLS ${MBEDTLS_VERSION} and the glue for wasm32`);
  const objects = await compileAll(tree);
  mkdirSync(buildDir, { recursive: true });
  await linkChecked(objects.test, [...GLUE_FILES, ...TEST_GLUE_FILES], testWasmPath);
  await linkChecked(objects.module, GLUE_FILES, wasmPath);
  say(`${wasmPath}: ${statSync(wasmPath).size} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return wasmPath;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildWasm({ force: process.argv.includes('--force') }).catch((error) => {
    process.stderr.write(`[build-wasm] ${error.message}\n`);
    process.exitCode = 1;
  });
}
