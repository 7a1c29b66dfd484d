// What the interop tests share: a free loopback UDP port, stopping a peer process (TERM,
// then KILL), and a logger that records warnings and errors so a test can fail on them.

import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../src/protocol/interfaces.js';

/** A port nobody uses right now: bound, read and released; the peer binds it next. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** SIGTERM, and SIGKILL when it has not exited within `patienceMs`. */
export async function stopProcess(child: ChildProcess, patienceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const patience = new AbortController();
  const timeout = delay(patienceMs, 'timeout' as const, { signal: patience.signal }).catch(() => 'aborted' as const);
  const outcome = await Promise.race([exited, timeout]);
  patience.abort();
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

export function recordingLogger(): Logger & { readonly problems: string[] } {
  const problems: string[] = [];
  const record = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    problems.push(`${level}: ${message ?? ''} ${JSON.stringify(objectOrMessage)}`);
  };
  return { debug: () => {}, info: () => {}, warn: record('warn'), error: record('error'), problems };
}
