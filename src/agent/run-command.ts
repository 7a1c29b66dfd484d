// Runs an operator's command (install hook, roll-back hook, health check) through
// /bin/sh with extra environment and a time limit. The limit bounds the hook's own
// process, whatever its children do: a hook that exits has finished (exit 0 succeeded,
// even if it left a daemon behind holding its output pipes), and on timeout the whole
// process group gets SIGTERM, then SIGKILL after a grace. Output is kept only as a
// bounded tail, for the failure reason. Unlike the agent's other timers these limits are
// real time, not the agent's clock: they bound a real process, which a virtual clock would
// leave running unbounded.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

export interface CommandResult {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** The last bytes of stdout and stderr together. */
  readonly output: string;
}

const OUTPUT_TAIL_BYTES = 400;
/** After SIGTERM to a hook past its limit, before SIGKILL. */
export const KILL_GRACE_MS = 2000;
/** After the hook exits, how long its last output may take to arrive. The pipes are not
 * waited on to their end: a daemon the hook started may hold them open for ever. */
const OUTPUT_DRAIN_MS = 50;

export function runCommand(
  command: string, options: { readonly env: Readonly<Record<string, string>>; readonly timeoutMs: number; readonly cwd?: string },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    // Detached: the hook leads a process group of its own, so a timeout reaches its children.
    const child = spawn('/bin/sh', ['-c', command], {
      env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let tail = Buffer.alloc(0);
    const collect = (chunk: Buffer): void => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > OUTPUT_TAIL_BYTES) tail = tail.subarray(tail.length - OUTPUT_TAIL_BYTES);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const closed = once(child, 'close').catch(() => undefined);
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // The group is gone already.
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      // Runs even after the hook itself is gone: its children may ignore SIGTERM. Unref'd,
      // so it never holds the agent's exit.
      setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS).unref();
    }, options.timeoutMs);
    let finished = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      const output = spawnError?.message ?? tail.toString('utf8').replace(/\s+/g, ' ').trim();
      resolve({ ok: exitCode === 0 && !timedOut, exitCode, signal, timedOut, output });
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('exit', (exitCode, signal) => {
      void Promise.race([closed, delay(OUTPUT_DRAIN_MS)]).then(() => finish(exitCode, signal));
    });
  });
}

/** "install command exited 3: <output>", "... timed out after 30 s", "... killed by SIGSEGV". */
export function describeFailure(what: string, result: CommandResult, timeoutMs: number): string {
  const how = result.timedOut ? `timed out after ${timeoutMs / 1000} s`
    : result.signal !== null ? `was killed by ${result.signal}`
      : result.exitCode === null ? 'could not start' : `exited ${result.exitCode}`;
  return `${what} ${how}${result.output === '' ? '' : `: ${result.output}`}`;
}
