// The fleet the proxy benchmark measures, as real processes: `coap-fleet server` (DTLS
// PSK on loopback, ephemeral port) and one `coap-fleet agent` connected to it, keys from
// generateKeys as `keys generate` and the end-to-end harness make them, logs in files of
// a temporary directory; and the operator's DTLS client in this process. Both daemons are
// spawnTracked: killed with the benchmark whatever way it ends.

import type { ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeys } from '../../src/operator/keys.js';
import { openGateway, type GatewayClient } from '../../src/operator/gateway-client.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { NODE_FLAGS, spawnTracked, stopChild } from './servers.js';

/** dist/bench/macro/ → the repository root, where bin/ is. */
const BIN = fileURLToPath(new URL('../../../bin/coap-fleet.js', import.meta.url));
export const NODE_ID = 'node-1';
const OPERATOR = 'admin';
const STARTUP_TIMEOUT_MS = 30_000;

export interface BenchFleet {
  readonly gatewayPid: number;
  readonly agentPid: number;
  /** The gateway's DTLS port on 127.0.0.1. */
  readonly port: number;
  /** The operators' DTLS clients, each its own session (its own peer to the gateway). */
  readonly operators: readonly GatewayClient[];
  close(): Promise<void>;
}

/** Starts the gateway and the agent and opens `operatorCount` operator clients; returns
 * once the gateway forwards a GET to the agent (the agent has registered and its session
 * is known to the gateway's NodeLink). */
export async function startFleet(operatorCount: number): Promise<BenchFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-bench-proxy-'));
  const children: ChildProcess[] = [];
  const operators: GatewayClient[] = [];
  const close = async (): Promise<void> => {
    for (const operator of operators) await operator.close().catch(() => {});
    for (const child of children.reverse()) await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const keys = join(dir, 'keys');
    await generateKeys(keys, [NODE_ID], OPERATOR, true);
    const { gateway, agent, uri, port } = await startGatewayAndAgent(dir, keys, children);
    for (let i = 0; i < operatorCount; i++) operators.push(await openGateway({ gateway: uri, credentials: join(keys, `operator-${OPERATOR}.json`) }));
    const client = operators[0]!;
    await until('a GET forwarded to the agent', agent, async () => {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited; log ${join(dir, 'gateway.log')}`);
      const response = await client.endpoint.request({ uri: `${uri}/nodes/${NODE_ID}/system/config`, method: Method.GET, timeoutMs: 2_000 });
      return response.code === ResponseCode.Content ? true : undefined;
    });
    return { gatewayPid: gateway.pid!, agentPid: agent.pid!, port, operators, close };
  } catch (error) {
    // The logs go with the directory: their last lines go with the error.
    const tails = ['gateway', NODE_ID].map((name) => `${name}.log:\n${logTail(join(dir, `${name}.log`))}`).join('\n');
    await close();
    throw new Error(`${(error as Error).message}\n${tails}`, { cause: error });
  }
}

/** A `coap-fleet server` (DTLS PSK on 127.0.0.1, ephemeral port) and one agent at its
 * default intervals, as a device runs it, both from the keys in `keys`; each child is
 * pushed onto `children` as soon as it exists, so the caller's cleanup reaches it. */
export async function startGatewayAndAgent(dir: string, keys: string, children: ChildProcess[]): Promise<{ gateway: ChildProcess; agent: ChildProcess; uri: string; port: number }> {
  const ready = join(dir, 'gateway.ready');
  const gateway = daemon(join(dir, 'gateway.log'), [
    'server', '--data-dir', join(dir, 'gateway'), '--port', 'off', '--dtls-host', '127.0.0.1', '--dtls-port', '0',
    '--psk-file', join(keys, 'gateway-psk.json'), '--ready-file', ready, '--publisher-key-file', join(keys, 'publisher.pub'),
  ]);
  children.push(gateway);
  const { coaps_port: port } = await until('the gateway\'s ready file', gateway, () => (existsSync(ready)
    ? JSON.parse(readFileSync(ready, 'utf8')) as { coaps_port: number } : undefined));
  const uri = `coaps://127.0.0.1:${port}`;
  const config = join(dir, `${NODE_ID}.json`);
  await writeFile(config, JSON.stringify({
    node_id: NODE_ID, gateway: uri, data_dir: join(dir, NODE_ID), publisher_key: join(keys, 'publisher.pub'),
    initial_version: '1.0.0', hardware: 'bench (loopback)', listen_host: '127.0.0.1',
    psk_identity: `node:${NODE_ID}`, psk_key_file: join(keys, `node-${NODE_ID}.json`),
  }));
  const agent = daemon(join(dir, `${NODE_ID}.log`), ['agent', '--config', config]);
  children.push(agent);
  return { gateway, agent, uri, port };
}

/** `coap-fleet ARGS` with stdout and stderr straight into a log file (this process pumps
 * nothing), stdin ignored; BENCH_SERVER_NODE_FLAGS go to node, as for the other
 * benchmarks' servers (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
export function daemon(logPath: string, args: readonly string[]): ChildProcess {
  const log = openSync(logPath, 'a');
  try {
    return spawnTracked(process.execPath, [...NODE_FLAGS, BIN, ...args], { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(none)';
  }
}

/** Polls `probe` until it returns a value, for STARTUP_TIMEOUT_MS at most; fails at once
 * when `child` has exited. */
export async function until<T>(what: string, child: ChildProcess, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last: unknown;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`a daemon exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`no ${what} within ${STARTUP_TIMEOUT_MS} ms${last === undefined ? '' : `: ${(last as Error).message}`}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
