// The daemons under a service manager, as systemd starts them (Type=notify, WatchdogSec):
// a real NOTIFY_SOCKET (an AF_UNIX datagram socket bound by perl, in Debian's base) receives
// what a real gateway and a real agent process send through systemd-notify: READY=1 once
// they serve, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM; a stalled event loop
// stops the pings; without NOTIFY_SOCKET nothing is spawned.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin', 'coap-fleet.js');

// One line per datagram: the arrival time in ms, a space, the datagram's lines joined by |.
const LISTENER = `
use IO::Socket::UNIX; use Socket; use Time::HiRes qw(time);
my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $ARGV[0]) or die "bind: $!";
$| = 1; print "bound\\n";
while (defined $s->recv(my $d, 4096)) { $d =~ s/\\n+$//; $d =~ s/\\n/|/g; printf "%.3f %s\\n", time() * 1000, $d; }
`;

interface Datagram {
  readonly atMs: number;
  readonly lines: readonly string[];
}

/** A NOTIFY_SOCKET and what arrived on it. */
class NotifyListener {
  readonly datagrams: Datagram[] = [];
  #bound = false;

  private constructor(readonly socket: string, readonly process: ChildProcess) {
    let rest = '';
    process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (line === 'bound') this.#bound = true;
        else this.datagrams.push({ atMs: Number(line.slice(0, line.indexOf(' '))), lines: line.slice(line.indexOf(' ') + 1).split('|') });
      }
    });
  }

  static async open(socket: string): Promise<NotifyListener> {
    const listener = new NotifyListener(socket, spawn('perl', ['-e', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] }));
    await waitFor('the notify socket bound', () => listener.#bound, 10_000);
    return listener;
  }

  /** Datagrams that carry `line`. */
  with(line: string): Datagram[] {
    return this.datagrams.filter((datagram) => datagram.lines.includes(line));
  }

  close(): void {
    this.process.kill('SIGTERM');
  }
}

let dir: string;
const children: ChildProcess[] = [];
const listeners: NotifyListener[] = [];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-systemd-notify-'));
  execFileSync(process.execPath, [bin, 'keys', 'generate', '--out', join(dir, 'keys'), '--nodes', '2'], { stdio: 'ignore' });
});

test.after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const listener of listeners) listener.close();
  await rm(dir, { recursive: true, force: true });
});

/** Starts `coap-fleet ARGS` with `env` over ours; `preload` is a module run first. */
function daemon(args: readonly string[], env: Record<string, string | undefined>, preload?: string): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [...(preload === undefined ? [] : ['--import', preload]), bin, ...args], {
    cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  return { child, exited, output: () => output };
}

async function listener(name: string): Promise<NotifyListener> {
  const opened = await NotifyListener.open(join(dir, `${name}.notify`));
  listeners.push(opened);
  return opened;
}

async function agentConfig(nodeId: string, gateway: string): Promise<string> {
  const path = join(dir, `${nodeId}.json`);
  await writeFile(path, JSON.stringify({
    node_id: nodeId, gateway, data_dir: join(dir, nodeId), publisher_key: join(dir, 'keys', 'publisher.pub'), initial_version: '1.0.0',
    hardware: 'systemd test', health_interval_s: 2, listen_host: '127.0.0.1', psk_identity: `node:${nodeId}`, psk_key_file: join(dir, 'keys', `node-${nodeId}.json`),
  }));
  return path;
}

test('gateway and agent: READY=1 once serving, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM', async () => {
  const gatewaySocket = await listener('gateway');
  const ready = join(dir, 'ready.json');
  // 1 s: a ping every 500 ms.
  const gateway = daemon(['server', '--data-dir', join(dir, 'gateway'), '--port', '0', '--dtls-port', '0', '--psk-file', join(dir, 'keys', 'gateway-psk.json'), '--ready-file', ready],
    { NOTIFY_SOCKET: gatewaySocket.socket, WATCHDOG_USEC: '1000000' });
  await waitFor('the gateway\'s READY=1', () => gatewaySocket.with('READY=1').length > 0, 30_000);
  assert.ok(existsSync(ready), 'READY=1 comes once the sockets are bound (the ready file is written before)');
  const readyLines = gatewaySocket.with('READY=1')[0]!.lines;
  assert.ok(readyLines.includes(`MAINPID=${gateway.child.pid}`), readyLines.join('|'));
  assert.match(readyLines.find((line) => line.startsWith('STATUS='))!, /^STATUS=serving coap 127\.0\.0\.1:\d+, coaps 127\.0\.0\.1:\d+; 0 nodes registered$/);
  const { coaps_port: coapsPort } = JSON.parse(await readFile(ready, 'utf8')) as { coaps_port: number };

  const agentSocket = await listener('agent');
  const agent = daemon(['agent', '--config', await agentConfig('node-1', `coaps://127.0.0.1:${coapsPort}`)],
    { NOTIFY_SOCKET: agentSocket.socket, WATCHDOG_USEC: '1000000', WATCHDOG_PID: undefined });
  await waitFor('the agent\'s READY=1', () => agentSocket.with('READY=1').length > 0, 30_000);
  assert.match(agentSocket.with('READY=1')[0]!.lines.find((line) => line.startsWith('STATUS='))!, /^STATUS=node node-1, version 1\.0\.0, gateway coaps:\/\/127\.0\.0\.1:\d+, serving on port \d+$/);
  await waitFor('the agent registered', () => gateway.output().includes('"node":"node-1"'), 30_000);

  await waitFor('three pings from each', () => gatewaySocket.with('WATCHDOG=1').length >= 3 && agentSocket.with('WATCHDOG=1').length >= 3, 30_000);
  for (const socket of [gatewaySocket, agentSocket]) {
    const pings = socket.with('WATCHDOG=1').map((datagram) => datagram.atMs);
    // Half of WATCHDOG_USEC, not faster: a timer that fires at once would pass a count alone.
    assert.ok(pings.at(-1)! - pings[0]! >= 0.9 * 500 * (pings.length - 1), `pings at ${pings.join(', ')}`);
  }

  agent.child.kill('SIGTERM');
  gateway.child.kill('SIGTERM');
  assert.is(await agent.exited, 0, agent.output());
  assert.is(await gateway.exited, 0, gateway.output());
  assert.equal(agentSocket.with('STOPPING=1').map((datagram) => datagram.lines.find((line) => line.startsWith('STATUS='))), ['STATUS=stopping (SIGTERM)']);
  assert.equal(gatewaySocket.with('STOPPING=1').map((datagram) => datagram.lines.find((line) => line.startsWith('STATUS='))), ['STATUS=stopping (SIGTERM)']);
});

test('an agent whose gateway does not answer is ready all the same; a stalled event loop stops its pings', async () => {
  const socket = await listener('offline-agent');
  // SIGUSR2 holds the event loop for 3 s, as a handler that never yields would.
  const stall = `data:text/javascript,process.on('SIGUSR2', () => { const end = Date.now() + 3000; while (Date.now() < end); });`;
  // Port 9 (discard): nothing answers there on loopback.
  const agent = daemon(['agent', '--config', await agentConfig('node-2', 'coaps://127.0.0.1:9')], { NOTIFY_SOCKET: socket.socket, WATCHDOG_USEC: '400000' }, stall);
  await waitFor('READY=1 without a gateway', () => socket.with('READY=1').length > 0, 30_000);
  await waitFor('pings', () => socket.with('WATCHDOG=1').length >= 3, 30_000);
  const stalledAt = Date.now();
  agent.child.kill('SIGUSR2');
  await waitFor('pings after the stall', () => socket.with('WATCHDOG=1').some((datagram) => datagram.atMs > stalledAt + 3100), 30_000);
  const pings = socket.with('WATCHDOG=1').map((datagram) => datagram.atMs);
  const gaps = pings.slice(1).map((at, index) => at - pings[index]!);
  // Every 200 ms while the loop runs; none for the 3 s it is held (but one that was on its
  // way, which a loaded machine may take a second to deliver).
  assert.ok(Math.max(...gaps) >= 2000, `gaps ${gaps.join(', ')}`);
  agent.child.kill('SIGTERM');
  assert.is(await agent.exited, 0, agent.output());
  assert.is(socket.with('STOPPING=1').length, 1);
});

test('without NOTIFY_SOCKET nothing is spawned; WATCHDOG_PID of another process: no pings', async () => {
  // A systemd-notify of our own ahead in PATH records every call.
  const fakeBin = join(dir, 'fake-bin');
  await mkdir(fakeBin);
  const calls = join(dir, 'calls.txt');
  await writeFile(join(fakeBin, 'systemd-notify'), `#!/bin/sh\necho "$*" >> ${calls}\n`);
  await chmod(join(fakeBin, 'systemd-notify'), 0o755);
  const path = `${fakeBin}:${process.env.PATH ?? ''}`;
  const plain = daemon(['agent', '--config', await agentConfig('node-1', 'coaps://127.0.0.1:9')], { PATH: path, NOTIFY_SOCKET: undefined, WATCHDOG_USEC: '200000' });
  await waitFor('the agent started', () => plain.output().includes('agent started'), 30_000);
  plain.child.kill('SIGTERM');
  assert.is(await plain.exited, 0, plain.output());
  assert.not.ok(existsSync(calls), 'no systemd-notify without NOTIFY_SOCKET');

  const other = daemon(['agent', '--config', await agentConfig('node-1', 'coaps://127.0.0.1:9')],
    { PATH: path, NOTIFY_SOCKET: join(dir, 'unused.notify'), WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' });
  await waitFor('the agent started', () => other.output().includes('agent started'), 30_000);
  other.child.kill('SIGTERM');
  assert.is(await other.exited, 0, other.output());
  const sent = (await readFile(calls, 'utf8')).trim().split('\n');
  assert.ok(sent.some((line) => line.includes('READY=1')), sent.join('\n'));
  assert.not.ok(sent.some((line) => line.includes('WATCHDOG=1')), sent.join('\n'));
});

test.run();
