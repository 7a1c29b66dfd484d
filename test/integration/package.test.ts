// The package as it is released: `npm pack`, then the tarball installed in empty
// directories. The public API as an integrator meets it: only what `exports` promises
// (`.`, `./dtls`, `./fleet`, `./testing`) serves and fetches a resource over CoAP and over
// DTLS, signs and verifies a manifest and a command envelope, and runs an exchange on the
// virtual clock; anything else must not resolve. And the release as a site installs it:
// `npm install --omit=dev --offline` with no compiler on the PATH, then both daemons from
// node_modules/.bin/coap-fleet, a node registering with the gateway over DTLS.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../helpers/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// What the integrator's program prints, line by line, when each part works.
const CONSUMER = `
import { Endpoint, ResponseCode, ContentFormat, ResponseError } from 'coap-fleet';
import { createDtlsEndpoint, DtlsError } from 'coap-fleet/dtls';
import { signManifest, verifyManifest, parseManifest, signCommand, verifyCommand, parseCommand, MemoryNonceLedger } from 'coap-fleet/fleet';
import { VirtualClock, MemoryNetwork } from 'coap-fleet/testing';
import { generateKeyPairSync } from 'node:crypto';

const out = (line) => process.stdout.write(line + '\\n');

const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
server.router.add('/hello', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'hello over coap', contentFormat: ContentFormat.TextPlain }) } });
const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
const answer = await client.request({ uri: 'coap://127.0.0.1:' + server.address().port + '/hello' });
out('coap ' + answer.payload.toString());
await Promise.all([client.close(), server.close()]);

const key = Buffer.from('0123456789abcdef');
const dtlsServer = await createDtlsEndpoint({ role: 'server', mode: 'psk', pskLookup: (id) => (id === 'node:1' ? key : undefined), host: '127.0.0.1', port: 0 });
dtlsServer.router.add('/who', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: 'hello ' + request.peer.identity }) } });
const dtlsClient = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity: 'node:1', key }, host: '127.0.0.1', port: 0 });
const who = await dtlsClient.request({ uri: 'coaps://127.0.0.1:' + dtlsServer.address().port + '/who' });
out('coaps ' + who.payload.toString());
await Promise.all([dtlsClient.close(), dtlsServer.close()]);
out('errors ' + (typeof DtlsError) + ' ' + (typeof ResponseError));

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const manifest = signManifest({ update_id: 'u1', version: '1.0.0', size: 3, checksum: 'sha256:' + 'a'.repeat(64), target_nodes: ['node-1'], policy: { max_parallel_installs: 1, canary: 0, failure_threshold: 1 } }, privateKey);
out('manifest ' + verifyManifest(manifest, publicKey) + ' ' + ('manifest' in parseManifest(manifest)));
const command = signCommand({ node_id: 'node-1', action: 'restart', args: {}, not_after: new Date(Date.now() + 60_000).toISOString(), nonce: 'ab'.repeat(16) }, privateKey);
const nonces = new MemoryNonceLedger();
const verdicts = [1, 2].map(() => verifyCommand(command, { nodeId: 'node-1', trustedKeys: [publicKey], now: Date.now(), nonces }));
out('command ' + ('command' in parseCommand(command)) + ' ' + verdicts.map((verdict) => verdict.ok || verdict.reason).join(' '));

const clock = new VirtualClock();
const network = new MemoryNetwork(clock);
const a = new Endpoint({ transport: network.transport(), clock });
const b = new Endpoint({ transport: network.transport(), clock });
b.router.add('/v', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'virtual' }) } });
let answered;
a.request({ peer: b.address(), path: '/v' }).then((response) => { answered = response; });
for (let i = 0; i < 200 && answered === undefined; i++) {
  clock.advance(5);
  await new Promise((resolve) => setImmediate(resolve));
}
out('testing ' + answered?.payload.toString());
await Promise.all([a.close(), b.close()]);

for (const hidden of ['coap-fleet/dist/src/server/gateway.js', 'coap-fleet/src/protocol/codec.js']) {
  try {
    await import(hidden);
    out('resolved ' + hidden);
  } catch (error) {
    out('hidden ' + error.code);
  }
}
`;

let dir: string;
let tarball: string;
const daemons: ChildProcess[] = [];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-package-'));
  // The test command has built dist/ and the module already: no prepack rebuild under
  // the other test files that are running from dist/.
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  tarball = join(dir, packed.trim().split('\n').at(-1)!);
});

test.after(async () => {
  for (const daemon of daemons) if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

test('the tarball ships the program, the compiled code, the DTLS module and the units; no tests or sources', () => {
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const shipped of ['bin/coap-fleet.js', 'dist/src/cli/main.js', 'dist/src/server/gateway.js', 'dist/src/agent/agent.js', 'build/mbedtls-dtls.wasm',
    'tools/systemd/coap-fleet-server.service', 'tools/systemd/coap-fleet-agent.service', 'README.md', 'package.json']) {
    assert.ok(listing.includes(`package/${shipped}`), `${shipped} ships`);
  }
  assert.not.ok(listing.some((path) => path.includes('mbedtls-dtls-test')), 'the test module does not ship');
  assert.not.ok(listing.some((path) => path.startsWith('package/dist/test/') || path.startsWith('package/dist/bench/') || path.startsWith('package/src/')), 'no tests, benchmarks or sources');
});

test('the packed tarball installs in an empty directory and its public API serves and fetches', async () => {
  {
    const app = join(dir, 'app');
    execFileSync('mkdir', [app]);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'integrator', version: '1.0.0', type: 'module', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--silent', tarball], { cwd: app, timeout: 300_000, stdio: ['ignore', 'ignore', 'pipe'] });
    assert.ok((await readdir(join(app, 'node_modules'))).includes('coap-fleet'));
    await writeFile(join(app, 'consumer.mjs'), CONSUMER);
    const output = execFileSync(process.execPath, ['consumer.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    assert.equal(output.trim().split('\n'), [
      'coap hello over coap',
      'coaps hello node:1',
      'errors function function',
      'manifest true true',
      'command true true replayed',
      'testing virtual',
      'hidden ERR_PACKAGE_PATH_NOT_EXPORTED',
      'hidden ERR_PACKAGE_PATH_NOT_EXPORTED',
    ]);
  }
});

test('a site installs the release offline with --omit=dev and no compiler, and runs both daemons from it over DTLS', async () => {
  const site = join(dir, 'site');
  await mkdir(site);
  // --offline: no network at all, the packages from the npm cache that the suite's own
  // `npm ci` filled. That cache holds tarballs, not the registry's package documents, so
  // npm cannot resolve the tarball's dependency ranges from it (ENOTCACHED): the site gets
  // a lockfile, the repository's own for the runtime dependencies, the versions tested here.
  const release = basename(tarball);
  await copyFile(tarball, join(site, release));
  await writeFile(join(site, 'package.json'), JSON.stringify({ name: 'site', version: '1.0.0', private: true, dependencies: { 'coap-fleet': `file:${release}` } }));
  const ours = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Manifest;
  await writeFile(join(site, 'package-lock.json'), JSON.stringify(siteLock(JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as Lock, ours, `file:${release}`)));
  // A PATH with node and sh alone: no cc, make or python for node-gyp to find. npm runs
  // lmdb's and msgpackr-extract's install script (sh, then node-gyp-build-optional-packages),
  // which finds the prebuilt binary of the optional package for this platform and builds
  // nothing; with a compiler needed it would fail here.
  const nodeOnly = join(dir, 'node-only');
  await mkdir(nodeOnly);
  await symlink(process.execPath, join(nodeOnly, 'node'));
  await symlink('/bin/sh', join(nodeOnly, 'sh'));
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  execFileSync(process.execPath, [npmCli, 'install', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--silent'], {
    cwd: site, timeout: 300_000, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PATH: nodeOnly },
  });
  const installed = await readdir(join(site, 'node_modules'));
  assert.not.ok(['typescript', 'uvu', 'fast-check', 'coap'].some((dev) => installed.includes(dev)), `no dev dependencies: ${installed.join(' ')}`);
  assert.ok(existsSync(join(site, 'node_modules', '@lmdb', `lmdb-${process.platform}-${process.arch}`)), 'lmdb\'s prebuilt binary');
  assert.not.ok(existsSync(join(site, 'node_modules', 'lmdb', 'build')), 'lmdb was not compiled');

  const program = join(site, 'node_modules', '.bin', 'coap-fleet');
  const cli = (...args: string[]): string => execFileSync(program, args, { cwd: site, encoding: 'utf8', timeout: 60_000 });
  cli('keys', 'generate', '--out', 'keys', '--nodes', '1');
  const output = new Map<string, string>();
  const start = (name: string, args: readonly string[]): Promise<number | null> => {
    const daemon = spawn(program, args, { cwd: site, stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.push(daemon);
    output.set(name, '');
    const keep = (chunk: Buffer): void => { output.set(name, output.get(name)! + chunk.toString()); };
    daemon.stdout!.on('data', keep);
    daemon.stderr!.on('data', keep);
    return new Promise((resolve) => daemon.on('close', (status) => resolve(status)));
  };
  const gatewayExited = start('gateway', ['server', '--data-dir', 'gateway', '--port', '0', '--dtls-port', '0', '--psk-file', 'keys/gateway-psk.json', '--ready-file', 'ready.json']);
  await waitFor(`the gateway's ready file (${output.get('gateway')})`, () => existsSync(join(site, 'ready.json')), 60_000);
  const { coaps_port: coapsPort } = JSON.parse(await readFile(join(site, 'ready.json'), 'utf8')) as { coaps_port: number };
  await writeFile(join(site, 'agent.json'), JSON.stringify({
    node_id: 'node-1', gateway: `coaps://127.0.0.1:${coapsPort}`, data_dir: 'agent', publisher_key: 'keys/publisher.pub', initial_version: '1.0.0',
    hardware: 'release test', listen_host: '127.0.0.1', psk_identity: 'node:node-1', psk_key_file: 'keys/node-node-1.json',
  }));
  const agentExited = start('agent', ['agent', '--config', 'agent.json']);
  await waitFor(`the agent registered (${output.get('agent')})`, () => /"msg":"registered"/.test(output.get('agent')!), 60_000);
  // The operator's view, from the installed CLI over DTLS.
  const listed = JSON.parse(cli('nodes', '--gateway', `coaps://127.0.0.1:${coapsPort}`, '--credentials', 'keys/operator-admin.json', '--json')) as { nodes: { node_id: string; version: string }[] };
  assert.equal(listed.nodes.map((node) => [node.node_id, node.version]), [['node-1', '1.0.0']]);
  for (const daemon of daemons) daemon.kill('SIGTERM');
  assert.is(await agentExited, 0, output.get('agent'));
  assert.is(await gatewayExited, 0, output.get('gateway'));
});

test.run();

interface Manifest {
  readonly version: string;
  readonly license: string;
  readonly dependencies: Record<string, string>;
  readonly bin: Record<string, string>;
  readonly engines: Record<string, string>;
}

interface Lock {
  readonly packages: Record<string, { readonly dev?: boolean }>;
}

/** A site's lockfile (v3) for the release at `spec`: the repository's locked runtime
 * packages, at the same paths (they sit at the top of node_modules there as here). */
function siteLock(lock: Lock, ours: Manifest, spec: string): object {
  const runtime = Object.entries(lock.packages).filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev !== true);
  return {
    name: 'site', version: '1.0.0', lockfileVersion: 3, requires: true,
    packages: {
      '': { name: 'site', version: '1.0.0', dependencies: { 'coap-fleet': spec } },
      'node_modules/coap-fleet': { version: ours.version, resolved: spec, license: ours.license, dependencies: ours.dependencies, bin: ours.bin, engines: ours.engines },
      ...Object.fromEntries(runtime),
    },
  };
}
