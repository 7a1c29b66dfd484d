// `coap-fleet agent` as a real process (bin/coap-fleet.js) against a fake gateway on
// loopback: kill -9 mid-download resumes from the persisted offset (read from its LMDB,
// and from the block numbers the gateway served), kill -9 between the switch and the
// health check ends rolled back and reported once, SIGTERM finishes the block in hand and
// exits 0, a bad configuration or a slot directory it cannot write exits 2, and a config
// of an earlier release starts with a deprecation warning.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INTERRUPTED_REASON } from '../../src/agent/installer.js';
import { PERSIST_EVERY_BYTES } from '../../src/agent/downloader.js';
import { AgentStore } from '../../src/agent/store.js';
import { newCommandNonce, signCommand } from '../../src/fleet/command-envelope.js';
import { formatCode, Method } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { FakeGateway, makeImage, makePublisher, tempDir, type Offered, type Publisher } from '../unit/agent/fake-gateway.js';

// dist/test/integration/ → the repository root, where bin/ is.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin', 'coap-fleet.js');

interface AgentProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

function spawnAgent(args: readonly string[]): AgentProcess {
  const child = spawn(process.execPath, [bin, 'agent', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status, signal });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

interface Setup {
  dir: string;
  data: string;
  configPath: string;
  gateway: FakeGateway;
  publisher: Publisher;
  cleanup: () => Promise<void>;
}

async function setup(config: Record<string, unknown> = {}): Promise<Setup> {
  const temp = await tempDir('coap-fleet-agent-process-');
  const gateway = await FakeGateway.start();
  const publisher = await makePublisher(temp.path);
  const data = join(temp.path, 'data');
  const configPath = join(temp.path, 'agent.json');
  await writeFile(configPath, JSON.stringify({
    node_id: 'n1', gateway: gateway.uri, data_dir: 'data', publisher_key: 'publisher.pub.pem', initial_version: '1.0.0',
    health_interval_s: 1, listen_host: '127.0.0.1', log_level: 'debug', ...config,
  }));
  return {
    dir: temp.path, data, configPath, gateway, publisher,
    cleanup: async () => {
      await gateway.close();
      await temp.remove();
    },
  };
}

async function offer(s: Setup, updateId: string, version: string, size: number): Promise<Offered & { sha256: string }> {
  const image = await makeImage(s.dir, s.publisher, { updateId, version, size });
  return { manifest: image.manifest, imagePath: image.imagePath, rollout: 'active', imageReady: true, sha256: image.sha256 };
}

/** Warn and error lines of a JSON log not matching `expected`, and lines that are not
 * JSON at all (a crash's stack on stdout). */
function unexpectedLines(agent: AgentProcess, expected: readonly RegExp[] = []): string[] {
  return agent.stdout().split('\n').filter((line) => line !== '').filter((line) => {
    let entry: { level?: unknown; msg?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return true;
    }
    return (entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal') && !expected.some((pattern) => pattern.test(String(entry.msg)));
  });
}

/** Whether the agent's JSON log has an entry with all of `fields`. */
function logged(agent: AgentProcess, fields: Readonly<Record<string, unknown>>): boolean {
  return agent.stdout().split('\n').some((line) => {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      return Object.entries(fields).every(([key, value]) => entry[key] === value);
    } catch {
      return false;
    }
  });
}

async function stopCleanly(agent: AgentProcess): Promise<void> {
  agent.child.kill('SIGTERM');
  const { status, signal } = await agent.exited;
  assert.equal({ status, signal }, { status: 0, signal: null }, agent.stderr());
}

/** Lock-step Block2 (one block per request) for the tests that name the block the agent
 * stopped at: a Q-Block2 burst runs ahead of what the agent has written, and the gateway
 * goes on sending a held burst after its requester died. Q-Block2 resume is the property
 * and DTLS tests' (q-block2*.test.ts), and a kill mid-download with Q-Block2 e2e/agent-kill's. */
const LOCK_STEP = { block_transfer: 'block2' };

test('kill -9 mid-download: after a restart the download resumes at the last persisted block, not at zero, and installs', async () => {
  const s = await setup(LOCK_STEP);
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => { release = resolve; });
  let holding = true;
  s.gateway.beforeBlock = (_id, num) => (holding && num >= 400 ? held : undefined);
  const update = await offer(s, 'u2', '2.0.0', 1024 * 1024);
  s.gateway.setUpdates([update]);
  let store: AgentStore | undefined;
  try {
    const first = spawnAgent(['--config', s.configPath]);
    await s.gateway.waitFor(() => (s.gateway.served.get('u2') ?? []).includes(400), 'block 400 asked for');
    store = AgentStore.open(join(s.data, 'state'));
    const persisted = store.update('u2')!.download!.verified;
    assert.ok(persisted >= 4 * PERSIST_EVERY_BYTES, `persisted ${persisted} bytes before the kill`);
    assert.ok(persisted <= 400 * 1024 && persisted % 1024 === 0, `${persisted}`);
    assert.ok((await stat(join(s.data, 'downloads', 'u2.part'))).size >= persisted);
    first.child.kill('SIGKILL');
    assert.is((await first.exited).signal, 'SIGKILL');
    assert.is(store.update('u2')!.state, 'downloading');

    s.gateway.served.set('u2', []);
    holding = false;
    release();
    const second = spawnAgent(['--config', s.configPath]);
    assert.is((await s.gateway.outcome('u2')).state, 'installed', second.stdout());
    const served = s.gateway.served.get('u2')!;
    assert.is(served[0], persisted / 1024, `resumed at block ${served[0]}, persisted offset ${persisted}`);
    assert.is(Math.min(...served), persisted / 1024, 'no earlier block asked for again');
    assert.is(served.length, 1024 - persisted / 1024);
    assert.is(await readlink(join(s.data, 'slots', 'current')), 'a');
    assert.is(createHash('sha256').update(await readFile(join(s.data, 'slots', 'a', 'image.bin'))).digest('hex'), update.sha256);
    await stopCleanly(second);
    assert.equal([...unexpectedLines(first), ...unexpectedLines(second)], []);
  } finally {
    release();
    await store?.close();
    await s.cleanup();
  }
});

test('kill -9 after the switch, before the health check passed: after a restart current is the old slot again and rolled_back is reported once', async () => {
  const s = await setup({ health_check_command: 'if [ "$VERSION" = 3.0.0 ]; then kill -9 $PPID; sleep 5; fi' });
  let store: AgentStore | undefined;
  try {
    s.gateway.setUpdates([await offer(s, 'u2', '2.0.0', 30_000), await offer(s, 'u3', '3.0.0', 30_000)]);
    const first = spawnAgent(['--config', s.configPath]);
    assert.is((await first.exited).signal, 'SIGKILL', first.stdout());
    assert.equal(s.gateway.statesOf('u2').filter((state) => state === 'installed'), ['installed']);
    assert.is(await readlink(join(s.data, 'slots', 'current')), 'b', 'died switched to the new slot');
    store = AgentStore.open(join(s.data, 'state'));
    assert.is(store.update('u3')!.install!.phase, 'switched-unverified');

    const registrations = s.gateway.registrations.length;
    const second = spawnAgent(['--config', s.configPath]);
    assert.equal(await s.gateway.outcome('u3'), { state: 'rolled_back', progress: 1, error: INTERRUPTED_REASON });
    assert.is(await readlink(join(s.data, 'slots', 'current')), 'a');
    await s.gateway.waitFor(() => s.gateway.registrations.length > registrations, 'the registration after the restart');
    assert.is(s.gateway.registrations.at(-1)!.body.version, '2.0.0');
    // The gateway's acknowledgement of u3's outcome has reached the agent (it persists it
    // before it stops); reports queued at the start (u2's, were it sent again) went first.
    await s.gateway.waitFor(() => logged(second, { msg: 'status reported', update_id: 'u3', state: 'rolled_back' }), 'the acknowledgement of u3\'s outcome');
    await stopCleanly(second);
    assert.equal(s.gateway.statesOf('u3').filter((state) => ['installed', 'failed', 'rolled_back'].includes(state)), ['rolled_back']);
    assert.equal(s.gateway.statesOf('u2').filter((state) => state === 'installed'), ['installed'], 'u2 not reported again');
    assert.is(store.reportedState('u3'), 'rolled_back');
    assert.equal(unexpectedLines(second, [/restarted during an unverified install/]), []);
  } finally {
    await store?.close();
    await s.cleanup();
  }
});

test('SIGTERM mid-download: the block in hand is finished and persisted, exit status 0; the next start resumes there', async () => {
  const s = await setup(LOCK_STEP);
  s.gateway.beforeBlock = () => new Promise((resolve) => setTimeout(resolve, 15));
  s.gateway.setUpdates([await offer(s, 'u2', '2.0.0', 256 * 1024)]);
  let store: AgentStore | undefined;
  try {
    const agent = spawnAgent(['--config', s.configPath, '--pretty']);
    await s.gateway.waitFor(() => (s.gateway.served.get('u2') ?? []).length >= 30, '30 blocks served');
    await stopCleanly(agent);
    assert.match(agent.stdout(), /INFO  agent stopped/);
    assert.not.match(agent.stdout(), /^\S+ (WARN|ERROR|FATAL)/m);
    const last = Math.max(...s.gateway.served.get('u2')!);
    store = AgentStore.open(join(s.data, 'state'));
    assert.is(store.update('u2')!.download!.verified, (last + 1) * 1024, `last block served ${last}`);

    s.gateway.served.set('u2', []);
    s.gateway.beforeBlock = () => {};
    const again = spawnAgent(['--config', s.configPath]);
    assert.is((await s.gateway.outcome('u2')).state, 'installed');
    assert.is(s.gateway.served.get('u2')![0], last + 1);
    await stopCleanly(again);
    assert.equal(unexpectedLines(again), []);
  } finally {
    await store?.close();
    await s.cleanup();
  }
});

test('a bad configuration exits 2 and names every problem', async () => {
  const s = await setup({ node_id: 'bad/id', gateway: 'http://nowhere', health_interval_s: -1 });
  try {
    const agent = spawnAgent(['--config', s.configPath]);
    const { status } = await agent.exited;
    assert.is(status, 2);
    for (const problem of ['node_id (from', 'gateway (from', 'health_interval_s (from']) assert.ok(agent.stderr().includes(problem), agent.stderr());
    assert.ok(agent.stderr().includes('see coap-fleet agent --help'));
  } finally {
    await s.cleanup();
  }
});

test('a config of an earlier release (health_interval, no unit) starts, with one deprecation warning logged', async () => {
  const s = await setup();
  try {
    const config = JSON.parse(await readFile(s.configPath, 'utf8')) as Record<string, unknown>;
    delete config.health_interval_s;
    await writeFile(s.configPath, JSON.stringify({ ...config, health_interval: 1 }));
    const agent = spawnAgent(['--config', s.configPath]);
    await s.gateway.waitFor(() => s.gateway.health.length >= 2, 'two health reports');
    await stopCleanly(agent);
    const deprecation = /^config: `health_interval` is deprecated, use `health_interval_s`$/;
    assert.is(agent.stdout().split('\n').filter((line) => line.includes('deprecated')).length, 1, agent.stdout());
    assert.equal(unexpectedLines(agent, [deprecation]), []);
    assert.is(unexpectedLines(agent).length, 1, 'the warning is logged at warn');
  } finally {
    await s.cleanup();
  }
});

test('a slot directory that cannot be written exits 2 and names the directory and the errno', async () => {
  const s = await setup();
  try {
    // Tests run as root, whom mode bits do not stop: the slots path leads through a regular
    // file instead, which fails for anyone (ENOTDIR), as a read-only mount would (EROFS).
    await writeFile(join(s.dir, 'plain-file'), '');
    await mkdir(s.data);
    await symlink(join(s.dir, 'plain-file', 'slots'), join(s.data, 'slots'));
    const agent = spawnAgent(['--config', s.configPath]);
    const { status } = await agent.exited;
    assert.is(status, 2, agent.stderr());
    assert.ok(agent.stderr().includes(`data_dir: slot directory ${join(s.data, 'slots')} is not writable (ENOTDIR)`), agent.stderr());
  } finally {
    await s.cleanup();
  }
});

test('a signed restart: the process answers 2.04, stops, runs restart_command, and exits 0', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const s = await setup();
  const client = await Endpoint.udp({ host: '127.0.0.1' });
  try {
    await writeFile(join(s.dir, 'operator-command.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const config = JSON.parse(await readFile(s.configPath, 'utf8')) as Record<string, unknown>;
    const marker = join(s.dir, 'restarted');
    await writeFile(s.configPath, JSON.stringify({ ...config, operator_keys: ['operator-command.pub'], restart_command: `echo restarting > ${marker}` }));
    const agent = spawnAgent(['--config', s.configPath]);
    await s.gateway.waitFor(() => s.gateway.registrations.length >= 1, 'the registration');
    const port = s.gateway.registrations[0]!.body.agent_port;
    const notAfter = new Date(Date.now() + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const envelope = signCommand({ node_id: 'n1', action: 'restart', args: {}, not_after: notAfter, nonce: newCommandNonce() }, privateKey);
    const response = await client.request({ method: Method.POST, uri: `coap://127.0.0.1:${port}/system/restart`, payload: JSON.stringify(envelope) });
    assert.is(formatCode(response.code), '2.04', response.payload.toString());
    const { status } = await agent.exited;
    assert.is(status, 0, agent.stderr());
    assert.is(await readFile(marker, 'utf8'), 'restarting\n');
    assert.ok(logged(agent, { msg: 'restart command ran' }), agent.stdout());
    assert.equal(unexpectedLines(agent), []);
  } finally {
    await client.close();
    await s.cleanup();
  }
});

test.run();
