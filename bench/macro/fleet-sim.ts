// The fleet benchmark's processes: a `coap-fleet server` on DTLS PSK (its LMDB in a
// directory of its own) and a `coap-fleet simulate` run against it whose JSON lines
// (progress, then the summary) are read as they come. Both spawnTracked (proxy-fleet.ts
// daemon): killed with the benchmark whatever way it ends.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { daemon, until } from './proxy-fleet.js';
import { stopChild } from './servers.js';

/** The simulator's workers stop their nodes within 15 s; then its summary. */
const STOP_TIMEOUT_MS = 60_000;

/** What `simulate --json` prints, as far as the benchmark reads it. */
export interface SimulateLine {
  readonly type: 'progress' | 'summary';
  readonly reason?: string;
  readonly elapsed_s: number;
  readonly simulator: {
    readonly started: number;
    readonly registered: number;
    readonly all_registered_s: number | null;
    readonly handshakes: number;
    readonly handshake_failures: number;
    readonly registration_retries: number;
    readonly installed: number;
    readonly install_failed: number;
    readonly rss_mib: number;
    readonly errors: Readonly<Record<string, number>>;
  };
}

export interface BenchGateway {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly uri: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export async function startGateway(dir: string, keysDir: string, name: string): Promise<BenchGateway> {
  const dataDir = join(dir, `${name}-data`);
  const ready = join(dir, `${name}.ready`);
  const child = daemon(join(dir, `${name}.log`), [
    'server', '--data-dir', dataDir, '--port', 'off', '--dtls-host', '127.0.0.1', '--dtls-port', '0',
    '--psk-file', join(keysDir, 'gateway-psk.json'), '--ready-file', ready, '--publisher-key-file', join(keysDir, 'publisher.pub'),
    '--log-level', 'warn',
  ]);
  const { coaps_port: port } = await until('the gateway\'s ready file', child, () => (existsSync(ready)
    ? JSON.parse(readFileSync(ready, 'utf8')) as { coaps_port: number } : undefined));
  return { child, pid: child.pid!, uri: `coaps://127.0.0.1:${port}`, dataDir, stop: () => stopChild(child) };
}

/** Bytes the gateway's state takes on disk (allocated blocks: LMDB's file is sparse). */
export function diskBytes(directory: string): number {
  let bytes = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).blocks * 512;
  }
  return bytes;
}

export interface BenchSimulation {
  readonly child: ChildProcess;
  /** The newest line, once there is one. */
  latest(): SimulateLine | undefined;
  /** Waits for a line that `accept`s, up to `timeoutMs`; fails when the simulator exits. */
  waitFor(what: string, accept: (line: SimulateLine) => boolean, timeoutMs: number): Promise<SimulateLine>;
  /** SIGTERM, then its summary line. */
  stop(): Promise<SimulateLine | undefined>;
}

export function startSimulation(dir: string, keysDir: string, gatewayUri: string, name: string, args: readonly string[]): BenchSimulation {
  const logPath = join(dir, `${name}.log`);
  const child = daemon(logPath, [
    'simulate', '--gateway', gatewayUri, '--credentials', join(keysDir, 'nodes-psk.json'), '--json', '--report-every-s', '2', '--view-every-s', '0', ...args,
  ]);
  // The lines are read back from the log: stdout and the workers' stderr share it.
  const lines = (): SimulateLine[] => readFileSync(logPath, 'utf8').split('\n')
    .filter((line) => line.startsWith('{"type":'))
    .map((line) => JSON.parse(line) as SimulateLine);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    latest: () => lines().at(-1),
    async waitFor(what, accept, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines().find(accept);
        if (found !== undefined) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`simulate exited while waiting for ${what}; log ${logPath}`);
        if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s; log ${logPath}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(killer);
      return lines().find((line) => line.type === 'summary');
    },
  };
}
