// Runs the real `coap-fleet` program (bin/coap-fleet.js) as a child process, as the CLI
// tests do: its exit status, signal, output and how long it took; killed after a limit so
// a hang fails the test instead of the run.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/helpers/ → the repository root, where bin/ is.
export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const bin = join(root, 'bin', 'coap-fleet.js');

export interface CliResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

export interface RunOptions {
  /** Written to stdin, which is otherwise closed. */
  readonly input?: string | Buffer;
  /** SIGKILL after this long (default 15 s). */
  readonly killAfterMs?: number;
  /** Called with the stdout so far and the child at each chunk, e.g. to signal it. */
  readonly onStdout?: (stdout: string, child: ChildProcess) => void;
  /** Variables set (or, as undefined, removed) over this process's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root, env: { ...process.env, ...options.env }, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onStdout?.(stdout, child);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    if (options.input !== undefined) child.stdin!.end(options.input);
    const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 15_000);
    child.on('error', (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status, signal, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}
