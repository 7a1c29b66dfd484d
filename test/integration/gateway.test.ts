// `coap-fleet server` as a real process on loopback: it writes its ready file, answers plain
// CoAP from loopback as the local operator, logs JSON lines, stops on SIGTERM with exit 0,
// keeps nodes and updates across a restart, and refuses a bad config with exit 2 and one
// line.

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { bodyOf, manifestFor } from '../unit/server/gateway-harness.js';

// dist/test/integration/ → the repository root, where bin/ is.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin', 'coap-fleet.js');

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

function startServer(args: readonly string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [bin, 'server', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status, signal });
    });
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

async function readyPort(file: string, running: Running): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline || running.child.exitCode !== null) throw new Error(`no ready file; stderr: ${running.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const ready = JSON.parse(await readFile(file, 'utf8')) as { coap_port: number; coaps_port: number | null };
  assert.is(ready.coaps_port, null);
  return ready.coap_port;
}

let dir: string;
let client: Endpoint;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-gateway-'));
  client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
});
test.after(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

const call = (port: number, method: keyof typeof Method, path: string, body?: unknown) => client.request({
  peer: { address: '127.0.0.1', port }, path, method: Method[method],
  ...(body === undefined ? {} : { payload: JSON.stringify(body), contentFormat: ContentFormat.Json }),
});

test('the gateway process answers, stops on SIGTERM with exit 0, and a restart keeps nodes and updates', async () => {
  const data = join(dir, 'data');
  const ready = join(dir, 'ready.json');
  let server = startServer(['--data-dir', data, '--port', '0', '--ready-file', ready]);
  let port = await readyPort(ready, server);
  assert.is((await call(port, 'POST', '/nodes', { node_id: 'n1', version: '1.0.0', hardware: 'test', agent_port: 0 })).code, ResponseCode.Created);
  assert.is((await call(port, 'POST', '/updates', manifestFor('u1', ['n1']))).code, ResponseCode.Created);
  server.child.kill('SIGTERM');
  let exit = await server.exited;
  assert.equal(exit, { status: 0, signal: null }, server.stderr());
  assert.not.ok(existsSync(ready), 'the ready file goes at stop');
  const lines = server.stdout().trim().split('\n').map((line) => JSON.parse(line) as { level: string; msg: string; coap?: string });
  assert.is(lines[0]!.msg, 'gateway listening');
  assert.is(lines[0]!.coap, `coap://127.0.0.1:${port}`, 'the bound address is in the log');
  assert.ok(lines.some((line) => line.msg === 'update created'));
  assert.equal(lines.slice(-2).map((line) => line.msg), ['stopping', 'gateway stopped']);
  assert.equal(lines.filter((line) => line.level === 'error' || line.level === 'warn'), []);
  assert.is(server.stderr(), '');

  server = startServer(['--data-dir', data, '--port', '0', '--ready-file', ready, '--pretty']);
  port = await readyPort(ready, server);
  const nodes = bodyOf<{ nodes: { node_id: string }[] }>(await call(port, 'GET', '/nodes'));
  assert.equal(nodes.nodes.map((node) => node.node_id), ['n1']);
  const updates = bodyOf<{ updates: { update_id: string; rollout: string }[] }>(await call(port, 'GET', '/updates'));
  assert.equal(updates.updates.map((update) => [update.update_id, update.rollout]), [['u1', 'active']]);
  server.child.kill('SIGINT');
  exit = await server.exited;
  assert.equal(exit, { status: 0, signal: null });
  assert.match(server.stdout(), /^\d\d:\d\d:\d\d\.\d{3} INFO  gateway listening coap=coap:\/\/127\.0\.0\.1:\d+/, '--pretty: lines for people');
});

test('a bad configuration is exit 2 with one line naming it, never a stack trace', async () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--port', '0'], {}, /^coap-fleet server: data_dir: required \(--data-dir, COAP_FLEET_SERVER_DATA_DIR or "data_dir" in the config file\)\n$/],
    [['--data-dir', join(dir, 'x'), '--port', '99999'], {}, /^coap-fleet server: port \(from --port\) must be a UDP port 0\.\.65535 or "off", not "99999"\n$/],
    [['--data-dir', join(dir, 'x'), '--port', '0'], { COAP_FLEET_SERVER_LOG_LEVEL: 'chatty' }, /^coap-fleet server: log_level \(from COAP_FLEET_SERVER_LOG_LEVEL\)/],
    [['--data-dir', join(dir, 'x'), '--port', '0'], { COAP_FLEET_LOG_LEVEL: 'chatty' },
      /^coap-fleet server: config: `COAP_FLEET_LOG_LEVEL` is deprecated, use `COAP_FLEET_SERVER_LOG_LEVEL`\ncoap-fleet server: log_level \(from COAP_FLEET_LOG_LEVEL\)/],
    [['--config', join(dir, 'absent.json')], {}, /^coap-fleet server: cannot read the config file .*absent\.json: ENOENT\n$/],
  ];
  for (const [args, env, expected] of cases) {
    const server = startServer(args, env);
    const exit = await server.exited;
    assert.is(exit.status, 2, `${args.join(' ')}: ${server.stderr()}`);
    assert.match(server.stderr(), expected);
    assert.not.match(server.stderr(), /\n\s+at /, 'no stack trace');
  }
  const usage = startServer(['--bogus']);
  assert.is((await usage.exited).status, 2);
  assert.match(usage.stderr(), /unknown option --bogus \(see coap-fleet server --help\)/);
});

test('a config file works, and a port that will not bind is exit 3 with one line', async () => {
  const blocker = createSocket('udp4');
  await new Promise<void>((resolve) => blocker.bind(0, '127.0.0.1', () => resolve()));
  const file = join(dir, 'gateway.json');
  await writeFile(file, JSON.stringify({ data_dir: 'busy-data', port: blocker.address().port, log_level: 'warn' }));
  try {
    const server = startServer(['--config', file]);
    const exit = await server.exited;
    assert.is(exit.status, 3, server.stderr());
    assert.match(server.stderr(), /EADDRINUSE/);
    assert.not.match(server.stderr(), /\n\s+at /);
    assert.ok(existsSync(join(dir, 'busy-data', 'state')), 'data_dir is relative to the config file');
  } finally {
    blocker.close();
  }
});

test.run();
