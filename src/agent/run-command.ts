// Runs an operator's command (install hook, roll-back hook, health check) through
// /bin/sh with extra environment and a time limit; on timeout the whole process group is
// killed, so a hook that forks cannot outlive its limit. Output is kept only as a bounded
// tail, for the failure reason.

import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** The last bytes of stdout and stderr together. */
  readonly output: string;
}

const OUTPUT_TAIL_BYTES = 400;

export function runCommand(
  command: string, options: { readonly env: Readonly<Record<string, string>>; readonly timeoutMs: number; readonly cwd?: string },
): Promise<CommandResult> {
  return new Promise((resolve) => {
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
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, options.timeoutMs);
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      clearTimeout(timer);
      const output = spawnError?.message ?? tail.toString('utf8').replace(/\s+/g, ' ').trim();
      resolve({ ok: exitCode === 0 && !timedOut, exitCode, signal, timedOut, output });
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('close', (exitCode, signal) => finish(exitCode, signal));
  });
}

/** "install command exited 3: <output>", "... timed out after 30 s", "... killed by SIGSEGV". */
export function describeFailure(what: string, result: CommandResult, timeoutMs: number): string {
  const how = result.timedOut ? `timed out after ${timeoutMs / 1000} s`
    : result.signal !== null ? `was killed by ${result.signal}`
      : result.exitCode === null ? 'could not start' : `exited ${result.exitCode}`;
  return `${what} ${how}${result.output === '' ? '' : `: ${result.output}`}`;
}
