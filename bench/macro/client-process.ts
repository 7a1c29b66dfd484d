// A client run as a process of its own (libcoap's coap-client, node-coap's client child):
// started, timed from spawn to exit, and killed when it passes its time limit, so that a
// slow peer shows as a timeout instead of hanging the benchmark.

import { performance } from 'node:perf_hooks';
import { spawnTracked } from './servers.js';

export interface ClientRun {
  /** Spawn to exit, process start included. */
  readonly seconds: number;
  readonly exitCode: number | null;
  /** Killed at the time limit. */
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Output past this is dropped: a client that floods its stdout is broken anyway. */
const MAX_OUTPUT = 1 << 20;

/** Runs `command` to its end or for `timeoutMs` at most; `onLine` sees each stdout line as
 * it comes (progress reports). Never rejects for the child's sake: a failure to start,
 * a non-zero exit or a timeout is in the result. */
export function runClient(
  command: string, args: readonly string[], timeoutMs: number, onLine?: (line: string) => void,
): Promise<ClientRun> {
  return new Promise<ClientRun>((resolve) => {
    const started = performance.now();
    const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let timedOut = false;
    let exited: { seconds: number; exitCode: number | null } | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk;
      if (onLine === undefined) return;
      pending += chunk;
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += chunk;
    });
    // The clock stops at 'exit'; the result waits for 'close', when the pipes are drained.
    child.once('exit', (code) => {
      exited = { seconds: (performance.now() - started) / 1000, exitCode: code };
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const { seconds, exitCode } = exited ?? { seconds: (performance.now() - started) / 1000, exitCode: code };
      resolve({ seconds, exitCode, timedOut, stdout, stderr });
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ seconds: (performance.now() - started) / 1000, exitCode: null, timedOut, stdout, stderr: `${stderr}${error.message}` });
    });
  });
}
