// Debian's mosquitto for the CoAP-vs-MQTT comparison: its own config file in the run's
// temporary directory, one TLS listener on 127.0.0.1 at a free port, clients authenticated
// by certificate (the CN is the user name, as our gateway takes the CN as the principal),
// an ACL that lets a node write only its own topics, no persistence file. Started as a
// tracked child, so it dies with the benchmark.

import { spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import type { BenchCredentials } from './mqtt-credentials.js';
import { spawnTracked, stopChild } from './servers.js';

/** Where Debian's package puts the broker (it is not on a user's PATH). */
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'];
const STARTUP_TIMEOUT_MS = 10_000;

/** The topics of the comparison: `fleet/<CN>/node` (its registration, retained),
 * `fleet/<CN>/health`, `fleet/<CN>/metrics` and `fleet/<CN>/status` written by a node,
 * `fleet/updates` written by the gateway. */
export const topics = {
  node: (principal: string): string => `fleet/${principal}/node`,
  health: (principal: string): string => `fleet/${principal}/health`,
  metrics: (principal: string): string => `fleet/${principal}/metrics`,
  status: (principal: string): string => `fleet/${principal}/status`,
  allHealth: 'fleet/+/health',
  allMetrics: 'fleet/+/metrics',
  allStatus: 'fleet/+/status',
  allNodes: 'fleet/+/node',
  updates: 'fleet/updates',
} as const;

export interface Broker {
  readonly pid: number;
  readonly port: number;
  /** False once the broker has exited. */
  running(): boolean;
  stop(): Promise<void>;
}

/** The broker's path, or undefined when it is not installed. */
export function mosquittoPath(): string | undefined {
  return MOSQUITTO.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Installs Debian's mosquitto when it is missing and this is root; otherwise says why the
 * MQTT side cannot run here. Undefined: the broker is there. */
export function ensureMosquitto(): string | undefined {
  if (mosquittoPath() !== undefined) return undefined;
  if (process.getuid?.() !== 0) return 'mosquitto is not installed and this is not root: run `apt-get install -y mosquitto` as root first';
  process.stderr.write('installing Debian\'s mosquitto (apt-get install -y mosquitto)\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const installed = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'mosquitto'], { stdio: ['ignore', 'inherit', 'inherit'], env });
  return installed.status === 0 && mosquittoPath() !== undefined ? undefined : `apt-get install mosquitto failed (${installed.status ?? installed.signal})`;
}

export async function startBroker(dir: string, credentials: BenchCredentials, gatewayPrincipal: string): Promise<Broker> {
  const binary = mosquittoPath();
  if (binary === undefined) throw new Error('mosquitto is not installed (ensureMosquitto)');
  const port = await freePort();
  const acl = join(dir, 'mosquitto.acl');
  // %u is the user name, here the certificate's CN (mosquitto.conf(5): acl_file).
  await writeFile(acl, [
    `pattern write ${topics.node('%u')}`,
    `pattern write ${topics.health('%u')}`,
    `pattern write ${topics.metrics('%u')}`,
    `pattern write ${topics.status('%u')}`,
    `pattern read ${topics.updates}`,
    `user ${gatewayPrincipal}`,
    'topic readwrite fleet/#',
    '',
  ].join('\n'));
  const config = join(dir, 'mosquitto.conf');
  await writeFile(config, [
    // Run as root it would switch to the `mosquitto` user, which cannot read the keys in
    // this 0700 directory: it stays the user that started it.
    `user ${process.env.USER ?? 'root'}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    `listener ${port} 127.0.0.1`,
    `cafile ${credentials.caBundle}`,
    `certfile ${credentials.server.cert}`,
    `keyfile ${credentials.server.key}`,
    'require_certificate true',
    'use_identity_as_username true',
    `acl_file ${acl}`,
    '',
  ].join('\n'));
  const child = spawnTracked(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    log = (log + text).slice(-4096);
  });
  try {
    await waitForPort(port, child, () => log);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { pid: child.pid!, port, running: () => child.exitCode === null && child.signalCode === null, stop: () => stopChild(child) };
}

/** A port free on 127.0.0.1 now (mosquitto takes no port 0); a race with another process
 * binding it meanwhile fails the start, which says so. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mosquitto exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    const listening = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (listening) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within ${STARTUP_TIMEOUT_MS} ms: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
