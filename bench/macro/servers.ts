// The servers the macro benchmarks compare, each in a child process of its own so that
// its CPU time and memory are its alone: ours, node-coap, libcoap's example server and a
// raw dgram echo as the ceiling. Starting one waits until it answers CoAP; every child
// started here (servers, and the client processes of `spawnTracked`) is killed when the
// benchmark ends, whether it ends well or not.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OURS } from '../report.js';
import { waitUntilAnswering, type Target } from './load-generator.js';
import { BENCH_PATH } from './resource.js';
import { BENCH_HOST } from './server-child.js';

export interface ServerSpec {
  readonly impl: string;
  /** The resource the load generator GETs on this server. */
  readonly path: readonly string[];
  /** What it answers there, for the README and the progress lines. */
  readonly describe: string;
  /** Why it cannot run here (a missing binary), or undefined. */
  unavailable(): string | undefined;
  launch(): Promise<Launched>;
}

interface Launched {
  readonly child: ChildProcess;
  readonly port: number;
}

export interface RunningServer {
  readonly impl: string;
  readonly pid: number;
  readonly target: Target;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 2_000;

/** Extra `node` flags for the Node.js server children, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 * to profile them (a profile is written when the child exits on SIGTERM). */
export const NODE_FLAGS = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

/** Every child ever started and not yet reaped: the exit hook kills what is left. */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Spawns a process that must not outlive the benchmark (a server, or a client run as a
 * process of its own): it is killed with the servers when the benchmark ends. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  track(child);
  return child;
}

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Runs even when the benchmark throws its way out: no server may outlive the run.
    process.once('exit', killAllServers);
    // Interrupted (Ctrl-C, a timeout's SIGTERM): kill the servers, then die of the signal.
    // Node children also exit when their stdin closes; libcoap's does not, hence this.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        killAllServers();
        process.kill(process.pid, signal);
      });
    }
  }
}

/** SIGKILLs every child still running. Synchronous, so an 'exit' hook can call it. */
export function killAllServers(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export const scriptPath = (name: string): string => fileURLToPath(new URL(`./${name}`, import.meta.url));

export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Spawns a server entry script of ours with its arguments and reads the port from its
 * first stdout line. */
function launchNodeScript(script: string, flags: readonly string[], args: readonly string[] = []): Promise<Launched> {
  const child = spawnTracked(process.execPath, [...flags, scriptPath(script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise<Launched>((resolve, reject) => {
    let output = '';
    const settle = (error: Error | undefined, port?: number): void => {
      clearTimeout(timer);
      child.off('error', onError);
      child.off('exit', onExit);
      child.stdout!.off('data', onData);
      if (error === undefined) {
        resolve({ child, port: port! });
      } else {
        child.kill('SIGKILL');
        reject(error);
      }
    };
    const onError = (error: Error): void => settle(error);
    const onExit = (code: number | null, signal: string | null): void =>
      settle(new Error(`${script} exited (${code ?? signal}) before printing its port`));
    const onData = (chunk: string): void => {
      output += chunk;
      const newline = output.indexOf('\n');
      if (newline < 0) return;
      const port = Number(output.slice(0, newline));
      if (Number.isInteger(port) && port > 0 && port < 65536) settle(undefined, port);
      else settle(new Error(`${script} printed ${JSON.stringify(output)}, not a port`));
    };
    const timer = setTimeout(() => settle(new Error(`${script} printed no port within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
    child.once('error', onError);
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
  });
}

/** An ephemeral port that was free a moment ago, for a server that takes its port as an
 * argument. The server binds it right after; a collision shows as a failed start. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, BENCH_HOST, () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A Node.js server child of ours (`dist/bench/macro/SCRIPT`); `args` follow the script,
 * and `path` is what startup waits for an answer on (default GET /bench). */
export const nodeScript = (
  impl: string, script: string, describe: string, flags: readonly string[] = NODE_FLAGS,
  extra: { readonly args?: readonly string[]; readonly path?: readonly string[] } = {},
): ServerSpec => ({
  impl,
  path: extra.path ?? [BENCH_PATH],
  describe,
  unavailable: () => undefined,
  launch: () => launchNodeScript(script, flags, extra.args),
});

/** libcoap's example server on an ephemeral port, with more arguments (e.g. `-d 10` to
 * let PUT create resources); startup waits for GET /time. */
export const libcoapServer = (describe: string, args: readonly string[] = []): ServerSpec => ({
  impl: 'libcoap',
  path: ['time'],
  describe,
  unavailable: () => (onPath('coap-server-notls') ? undefined : 'coap-server-notls not found (apt-get install libcoap3-bin)'),
  async launch(): Promise<Launched> {
    const port = await freeUdpPort();
    // Its log goes nowhere: at the default level it prints nothing per request anyway.
    const child = spawnTracked('coap-server-notls', ['-A', BENCH_HOST, '-p', String(port), ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return { child, port };
  },
});

export const SERVERS: readonly ServerSpec[] = [
  nodeScript(OURS, 'server-coap-fleet.js', `GET /${BENCH_PATH}: 2.05, 16-byte payload`, NODE_FLAGS),
  nodeScript('node-coap', 'server-node-coap.js', `GET /${BENCH_PATH}: 2.05, 16-byte payload`, NODE_FLAGS),
  libcoapServer('coap-server-notls, GET /time: 2.05, Max-Age 1, 15-byte date payload'),
  nodeScript('raw-dgram', 'server-raw-dgram.js', 'any datagram: prebuilt ACK 2.05, 16-byte payload', NODE_FLAGS),
];

/** Starts a server and returns once it answers a CoAP GET. */
export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const { child, port } = await spec.launch();
  const target: Target = { address: BENCH_HOST, port };
  try {
    await waitUntilAnswering(target, spec.path, STARTUP_TIMEOUT_MS);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    impl: spec.impl,
    pid: child.pid!,
    target,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the child is gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
