// What a server child costs, read from Linux /proc: CPU time (user + system, every thread
// of the process, so a Node server's GC and libuv threads count too) and resident memory.
// proc(5) documents these files.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat (usually 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    const text = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim();
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`getconf CLK_TCK printed ${JSON.stringify(text)}`);
    clockTicks = value;
  }
  return clockTicks;
}

/** User plus system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplitSeconds(pid);
  return user + system;
}

/** User and system CPU seconds the process has used so far, apart: how much of its time
 * the kernel spent on its behalf (system calls: sendmsg, recvmsg, epoll). */
export function cpuSplitSeconds(pid: number): { readonly user: number; readonly system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2, the command name, is in parentheses and may itself hold spaces or ')': the
  // fields after it are counted from the last ')'. utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const userTicks = Number(fields[14 - 3]);
  const systemTicks = Number(fields[15 - 3]);
  if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) throw new Error(`unreadable /proc/${pid}/stat: ${stat}`);
  return { user: userTicks / clockTicksPerSecond(), system: systemTicks / clockTicksPerSecond() };
}

/** CPU seconds the process's live threads have run, in nanoseconds' resolution: the first
 * field of each `/proc/PID/task/TID/schedstat` (time on the CPU, user and system). For
 * windows of tens of milliseconds, where `cpuSeconds`' clock ticks (10 ms) are too coarse.
 * A thread that has exited is no longer counted: compare two readings only while the
 * process keeps its threads (a Node.js server does). Falls back to `cpuSeconds` where the
 * kernel has no schedstat. */
export function cpuSecondsFine(pid: number): number {
  let nanoseconds = 0;
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch (error) {
    throw new Error(`cannot list the threads of ${pid}: ${(error as Error).message}`);
  }
  for (const thread of threads) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${thread}/schedstat`, 'utf8');
    } catch {
      // The thread ended between readdir and read; or no schedstat at all.
      if (threads.length === 1) return cpuSeconds(pid);
      continue;
    }
    const value = Number(text.split(' ')[0]);
    if (!Number.isFinite(value)) throw new Error(`unreadable /proc/${pid}/task/${thread}/schedstat: ${text}`);
    nanoseconds += value;
  }
  return nanoseconds / 1e9;
}

/** Resident set size in MiB (VmRSS). */
export const residentMiB = (pid: number): number => statusMiB(pid, 'VmRSS');

/** The largest resident set size the process has had, in MiB (VmHWM, its high-water mark). */
export const peakResidentMiB = (pid: number): number => statusMiB(pid, 'VmHWM');

function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}
