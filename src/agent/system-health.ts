// The node's health figures (DESIGN §5 /nodes/{id}/health), read from the kernel: CPU %
// over the interval since the previous sample (/proc/stat), memory in use from MemTotal
// and MemAvailable (/proc/meminfo), the hottest thermal zone (/sys/class/thermal, null on
// a machine without one) and the uptime (/proc/uptime). The roots are parameters so the
// parsing is tested on files written by the test.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthReport, HealthStatus } from '../fleet/schemas.js';
import { HealthFiguresError } from './errors.js';

export interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** The aggregate "cpu" line: idle and iowait are idle, the rest busy; guest time is
 * already counted in user and nice (proc(5)), so it is left out of the total. */
export function parseCpuTimes(stat: string): CpuTimes {
  const line = stat.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (line === undefined) throw new HealthFiguresError('/proc/stat has no aggregate cpu line');
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const idleAll = idle + iowait;
  const total = user + nice + system + idleAll + irq + softirq + steal;
  return { busy: total - idleAll, total };
}

/** MemTotal and MemAvailable (MemFree on kernels before 3.14) in bytes; /proc/meminfo
 * counts in kB, which proc(5) means as KiB. */
export function parseMemory(meminfo: string): { readonly totalBytes: number; readonly availableBytes: number } {
  const field = (name: string): number | undefined => {
    const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo);
    return match === null ? undefined : Number(match[1]) * 1024;
  };
  const total = field('MemTotal');
  const available = field('MemAvailable') ?? field('MemFree');
  if (total === undefined || available === undefined || total === 0) throw new HealthFiguresError('/proc/meminfo lacks MemTotal or MemAvailable');
  return { totalBytes: total, availableBytes: available };
}

/** Percent of memory in use: (MemTotal - MemAvailable) / MemTotal. */
export function parseMemoryPercent(meminfo: string): number {
  const { totalBytes, availableBytes } = parseMemory(meminfo);
  return clampPercent(((totalBytes - availableBytes) / totalBytes) * 100);
}

/** Busy percent of all CPUs between two readings of /proc/stat (since boot when there is
 * no previous one). */
export function cpuPercentBetween(previous: CpuTimes | undefined, current: CpuTimes): number {
  const before = previous ?? { busy: 0, total: 0 };
  const elapsed = current.total - before.total;
  return clampPercent(elapsed > 0 ? ((current.busy - before.busy) / elapsed) * 100 : 0);
}

export const parseUptime = (uptime: string): number => Math.max(0, Number.parseFloat(uptime.trim().split(/\s+/)[0] ?? '0') || 0);

export const clampPercent = (value: number): number => Math.round(Math.min(100, Math.max(0, value)) * 10) / 10;

/** The status the figures add up to: unhealthy at 95 % memory or 85 °C, degraded at 90 %
 * CPU, 85 % memory or 75 °C. Thresholds of a typical Cortex-A55 board's throttling. */
export function classify(cpuPercent: number, memoryPercent: number, temperature: number | null): HealthStatus {
  if (memoryPercent >= 95 || (temperature !== null && temperature >= 85)) return 'unhealthy';
  if (cpuPercent >= 90 || memoryPercent >= 85 || (temperature !== null && temperature >= 75)) return 'degraded';
  return 'healthy';
}

export interface SystemHealthOptions {
  readonly procRoot?: string;
  readonly thermalRoot?: string;
}

export class SystemHealth {
  readonly #proc: string;
  readonly #thermal: string;
  #previous: CpuTimes | undefined;

  constructor(options: SystemHealthOptions = {}) {
    this.#proc = options.procRoot ?? '/proc';
    this.#thermal = options.thermalRoot ?? '/sys/class/thermal';
  }

  /** A report with CPU % since the previous call (since boot on the first). */
  async sample(now: Date = new Date()): Promise<HealthReport> {
    const [stat, meminfo, uptime, temperature] = await Promise.all([
      readFile(join(this.#proc, 'stat'), 'utf8'), readFile(join(this.#proc, 'meminfo'), 'utf8'),
      readFile(join(this.#proc, 'uptime'), 'utf8'), hottestTemperature(this.#thermal),
    ]);
    const times = parseCpuTimes(stat);
    const cpuPercent = cpuPercentBetween(this.#previous, times);
    this.#previous = times;
    const memoryPercent = parseMemoryPercent(meminfo);
    return {
      status: classify(cpuPercent, memoryPercent, temperature),
      cpu_percent: cpuPercent,
      memory_percent: memoryPercent,
      temperature,
      uptime_s: Math.round(parseUptime(uptime)),
      timestamp: now.toISOString(),
    };
  }
}

/** The hottest thermal zone under `thermalRoot` (/sys/class/thermal) in °C, or null when
 * the machine exposes none. */
export async function hottestTemperature(thermalRoot: string): Promise<number | null> {
  let zones: string[];
  try {
    zones = (await readdir(thermalRoot)).filter((name) => name.startsWith('thermal_zone'));
  } catch {
    return null;
  }
  const readings = await Promise.all(zones.map((zone) => readFile(join(thermalRoot, zone, 'temp'), 'utf8').then(
    (text) => Number.parseInt(text.trim(), 10) / 1000, () => Number.NaN,
  )));
  // The health schema takes -100..250 °C; a sensor outside that is broken, not hot.
  const valid = readings.filter((value) => Number.isFinite(value) && value > -100 && value < 250);
  return valid.length === 0 ? null : Math.round(Math.max(...valid) * 10) / 10;
}
