// Kernel files (proc(5)) as a test writes them, for SystemMetrics to read: a quiet node
// with 2 MiB of memory, half of it available.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes proc/ under `root` and returns its path. */
export async function writeProc(root: string): Promise<string> {
  const proc = join(root, 'proc');
  await mkdir(join(proc, 'net'), { recursive: true });
  await writeFile(join(proc, 'stat'), 'cpu  100 0 100 800 0 0 0 0 0 0\n');
  await writeFile(join(proc, 'meminfo'), 'MemTotal: 2048 kB\nMemAvailable: 1024 kB\n');
  await writeFile(join(proc, 'loadavg'), '1.00 0.50 0.25 1/1 1\n');
  await writeFile(join(proc, 'uptime'), '10.0 10.0\n');
  await writeFile(join(proc, 'mounts'), '');
  await writeFile(join(proc, 'net', 'dev'), '');
  return proc;
}
