// Finding the processes a test started through a hook (they are not the test's children
// once the hook is gone): each run carries a unique marker in its environment, found in
// /proc/<pid>/environ. Zombies have an empty environ, so only live processes are found.

import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';

const MARKER_VARIABLE = 'COAP_FLEET_TEST_MARKER';

/** An environment that marks every process started under it; `assignment` does the same
 * as a `VAR=value` prefix of a shell command. */
export function processMarker(): { readonly env: Record<string, string>; readonly assignment: string; readonly value: string } {
  const value = randomBytes(8).toString('hex');
  return { env: { [MARKER_VARIABLE]: value }, assignment: `${MARKER_VARIABLE}=${value}`, value };
}

/** Live processes whose environment carries `marker`. */
export async function markedProcesses(marker: string): Promise<number[]> {
  const needle = `${MARKER_VARIABLE}=${marker}`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

/** SIGKILLs the marked processes still alive (a test's leftovers), by pid. */
export async function killMarked(marker: string): Promise<void> {
  for (const pid of await markedProcesses(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

/** Polls every 20 ms until no marked process is alive; fails after `timeoutMs`. */
export async function waitUntilGone(marker: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = await markedProcesses(marker);
    if (alive.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes still alive after ${timeoutMs} ms: ${alive.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
