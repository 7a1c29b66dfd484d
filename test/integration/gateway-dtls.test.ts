// `coap-fleet server` over DTLS (PSK, the keys file of `coap-fleet keys generate`) as a real
// process: identities from the handshake become principals; a node registers itself and
// reports its health but cannot write another node's, nor create updates; an operator can;
// plain CoAP on loopback stays the local operator beside it.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint, type DtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import type { Endpoint } from '../../src/protocol/endpoint.js';
import { Endpoint as PlainEndpoint } from '../../src/protocol/endpoint.js';
import { bodyOf, manifestFor } from '../unit/server/gateway-harness.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin', 'coap-fleet.js');

const keys: Record<string, Buffer> = {
  'operator:admin': randomBytes(16),
  'node:n1': randomBytes(16),
  'node:n2': randomBytes(16),
};

let dir: string;
let server: ChildProcess;
let exited: Promise<number | null>;
let stdout = '';
let ports: { coap_port: number; coaps_port: number };
const clients: Endpoint[] = [];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-gateway-dtls-'));
  const pskFile = join(dir, 'gateway-psk.json');
  await writeFile(pskFile, JSON.stringify(Object.fromEntries(Object.entries(keys).map(([identity, key]) => [identity, key.toString('hex')]))), { mode: 0o600 });
  const ready = join(dir, 'ready.json');
  server = spawn(process.execPath, [bin, 'server', '--data-dir', join(dir, 'data'), '--port', '0', '--dtls-port', '0', '--psk-file', pskFile, '--ready-file', ready],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  server.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  exited = new Promise((resolve) => server.on('close', (status) => resolve(status)));
  const deadline = Date.now() + 15_000;
  while (!existsSync(ready)) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`the gateway did not start: ${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  ports = JSON.parse(await readFile(ready, 'utf8')) as typeof ports;
});

test.after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  if (server.exitCode === null) server.kill('SIGTERM');
  await exited;
  await rm(dir, { recursive: true, force: true });
});

async function dtlsClient(identity: string, key: Buffer): Promise<DtlsEndpoint> {
  const client = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key }, host: '127.0.0.1', port: 0 });
  clients.push(client);
  return client;
}

const call = (client: Endpoint, method: keyof typeof Method, path: string, body?: unknown) => client.request({
  uri: `coaps://127.0.0.1:${ports.coaps_port}${path}`, method: Method[method], timeoutMs: 10_000,
  ...(body === undefined ? {} : { payload: JSON.stringify(body), contentFormat: ContentFormat.Json }),
});

const health = { status: 'healthy', cpu_percent: 5, memory_percent: 20, temperature: null, uptime_s: 60, timestamp: new Date().toISOString() };

test('over DTLS, identities are principals: nodes write only their own entries, operators manage', async () => {
  const n1 = await dtlsClient('node:n1', keys['node:n1']!);
  const n2 = await dtlsClient('node:n2', keys['node:n2']!);
  const operator = await dtlsClient('operator:admin', keys['operator:admin']!);
  assert.is((await call(n1, 'POST', '/nodes', { node_id: 'n1', version: '1.0.0', hardware: 'test', agent_port: 0 })).code, ResponseCode.Created);
  assert.is((await call(n2, 'POST', '/nodes', { node_id: 'n2', version: '1.0.0', hardware: 'test', agent_port: 0 })).code, ResponseCode.Created);
  assert.is((await call(n1, 'POST', '/nodes', { node_id: 'n2', version: '9.0.0', hardware: 'test', agent_port: 0 })).code, ResponseCode.Forbidden);
  assert.is((await call(n1, 'PUT', '/nodes/n1/health', health)).code, ResponseCode.Changed);
  assert.is((await call(n1, 'PUT', '/nodes/n2/health', health)).code, ResponseCode.Forbidden, 'not another node\'s health');
  assert.is((await call(n1, 'POST', '/updates', manifestFor('u1', ['n1', 'n2']))).code, ResponseCode.Forbidden, 'nodes cannot create updates');
  assert.is((await call(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2']))).code, ResponseCode.Created);
  assert.is((await call(n2, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.5 })).code, ResponseCode.Changed);
  const listed = bodyOf<{ updates: { update_id: string }[] }>(await call(n1, 'GET', '/updates'));
  assert.equal(listed.updates.map((update) => update.update_id), ['u1']);
  const status = bodyOf<{ nodes: Record<string, { state: string }> }>(await call(operator, 'GET', '/updates/u1/status'));
  assert.is(status.nodes.n2!.state, 'downloading', 'n2 wrote its own entry');
  assert.is(status.nodes.n1!.state, 'pending');
  assert.is((await call(n1, 'GET', '/nodes')).code, ResponseCode.Forbidden);
  assert.is(bodyOf<{ nodes: unknown[] }>(await call(operator, 'GET', '/nodes')).nodes.length, 2);
});

test('a wrong key gets no session; plain CoAP on loopback is still the local operator', async () => {
  const impostor = await dtlsClient('node:n1', randomBytes(16));
  const failed = await call(impostor, 'GET', '/updates').then(() => 'answered', (error: { code?: string }) => error.code ?? 'error');
  assert.match(failed, /^DTLS_ERR/);
  const plain = await PlainEndpoint.udp({ host: '127.0.0.1', port: 0 });
  clients.push(plain);
  const nodes = await plain.request({ uri: `coap://127.0.0.1:${ports.coap_port}/nodes` });
  assert.is(nodes.code, ResponseCode.Content);
});

test('denials over DTLS are logged with the principal; SIGTERM stops the gateway with exit 0', async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  server.kill('SIGTERM');
  assert.is(await exited, 0);
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; who?: string; path?: string; coaps?: string });
  assert.match(lines[0]!.coaps ?? '', /^coaps:\/\/127\.0\.0\.1:\d+$/);
  const denied = lines.filter((line) => line.msg === 'request denied');
  assert.ok(denied.some((line) => line.who === 'node:n1' && line.path === '/nodes/n2/health'));
  assert.ok(denied.some((line) => line.who === 'node:n1' && line.path === '/updates'));
});

test.run();
