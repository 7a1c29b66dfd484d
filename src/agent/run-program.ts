// Runs a program the agent reads from (journalctl, systemctl, the services command) with
// its arguments as an argv, never through a shell: a unit name or a filter from a request
// cannot become a command. Both the time and the output are bounded: past either, the
// program's process group gets SIGTERM, then SIGKILL after the grace run-command.ts uses,
// and the caller gets what came before the bound. Like run-command.ts, the limit is real
// time, not the agent's clock: it bounds a real process.

import { spawn } from 'node:child_process';
import { KILL_GRACE_MS } from './run-command.js';

export interface ProgramResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** stdout reached maxOutputBytes: `stdout` holds the first maxOutputBytes only. */
  readonly overflowed: boolean;
  readonly stdout: Buffer;
  /** The last bytes of stderr, for an error message. */
  readonly stderr: string;
  /** Set when the program could not be started (ENOENT, EACCES). */
  readonly spawnError: Error | undefined;
}

export interface ProgramLimits {
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
}

const STDERR_TAIL_BYTES = 400;
/** After the program exits, how long the rest of its output may take to arrive. */
const OUTPUT_DRAIN_MS = 1000;

export function runProgram(program: string, args: readonly string[], limits: ProgramLimits): Promise<ProgramResult> {
  return new Promise((resolve) => {
    // Detached: the program leads a process group, so a kill reaches what it started too.
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
    const chunks: Buffer[] = [];
    let kept = 0;
    let overflowed = false;
    let timedOut = false;
    let stderr = Buffer.alloc(0);
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    const stop = (): void => {
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS).unref();
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (overflowed) return;
      const room = limits.maxOutputBytes - kept;
      if (chunk.length < room) {
        chunks.push(chunk);
        kept += chunk.length;
        return;
      }
      // At the bound: whatever follows is not wanted, and the program need not produce it.
      chunks.push(chunk.subarray(0, room));
      kept = limits.maxOutputBytes;
      overflowed = true;
      child.stdout.destroy();
      stop();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limits.timeoutMs);
    let finished = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({
        exitCode, signal, timedOut, overflowed, stdout: Buffer.concat(chunks),
        stderr: stderr.toString('utf8').replace(/\s+/g, ' ').trim(), spawnError,
      });
    };
    child.on('error', (error) => finish(null, null, error));
    // 'close': stdout has ended, so every byte the program wrote is in. A daemon the program
    // left behind may hold the pipe open for ever: then its exit, a little later, ends it.
    child.on('close', (exitCode, signal) => finish(exitCode, signal));
    child.on('exit', (exitCode, signal) => {
      setTimeout(() => finish(exitCode, signal), OUTPUT_DRAIN_MS).unref();
    });
  });
}

/** "journalctl exited 1: <stderr>", "... timed out after 5 s", "... could not start: …". */
export function describeProgramFailure(program: string, result: ProgramResult, timeoutMs: number): string {
  const how = result.spawnError !== undefined ? `could not start: ${result.spawnError.message}`
    : result.timedOut ? `timed out after ${timeoutMs / 1000} s`
      : result.signal !== null ? `was killed by ${result.signal}` : `exited ${result.exitCode ?? '?'}`;
  return `${program} ${how}${result.stderr === '' ? '' : `: ${result.stderr}`}`;
}
