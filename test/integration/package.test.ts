// The public API as an integrator meets it: `npm pack` the package, install the tarball in
// an empty directory, and use only what `exports` promises (`.`, `./dtls`, `./fleet`,
// `./testing`) to serve and fetch a resource over CoAP and over DTLS, sign and verify a
// manifest and a command envelope, and run an exchange on the virtual clock. Anything else
// must not resolve.

import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

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

test('the packed tarball installs in an empty directory and its public API serves and fetches', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-package-'));
  try {
    // The test command has built dist/ and the module already: no prepack rebuild under
    // the other test files that are running from dist/.
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    const tarball = join(dir, packed.trim().split('\n').at(-1)!);
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes('package/build/mbedtls-dtls.wasm'), 'the DTLS module ships');
    assert.not.ok(listing.some((path) => path.includes('mbedtls-dtls-test')), 'the test module does not ship');
    assert.not.ok(listing.some((path) => path.startsWith('package/dist/test/') || path.startsWith('package/src/')), 'no tests or sources');

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
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
