// One sample of the node's figures for GET /metrics (DESIGN §5), read from the kernel:
// CPU % since the previous sample and the hottest thermal zone as system-health.ts reads
// them, memory in bytes (/proc/meminfo), the load averages (/proc/loadavg), the uptime,
// each real filesystem's size (/proc/mounts, statfs(2)) and each interface's byte
// counters (/proc/net/dev). The roots are parameters so the parsing is tested on files
// the test writes.

import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiskFigures, MetricsSample, NetworkFigures } from '../fleet/node-views.js';
import { HealthFiguresError } from './errors.js';
import { clampPercent, cpuPercentBetween, hottestTemperature, parseCpuTimes, parseMemory, parseUptime, type CpuTimes } from './system-health.js';

/** A machine with more is unusual; a sample stays one block-wise answer of a few KiB. */
const MAX_DISKS = 32;
const MAX_INTERFACES = 32;

/** Filesystems that hold no data of the node's: the kernel's views and the container
 * plumbing (proc(5), sysfs(5), cgroups(7)…). tmpfs and devtmpfs are RAM, shown by memory. */
const PSEUDO_FILESYSTEMS = new Set([
  'proc', 'sysfs', 'cgroup', 'cgroup2', 'devpts', 'devtmpfs', 'tmpfs', 'ramfs', 'mqueue', 'debugfs', 'tracefs', 'securityfs',
  'pstore', 'bpf', 'configfs', 'fusectl', 'hugetlbfs', 'autofs', 'binfmt_misc', 'efivarfs', 'rpc_pipefs', 'nsfs', 'squashfs',
  'fuse.gvfsd-fuse', 'fuse.portal', 'selinuxfs', 'rootfs',
]);

export interface SystemMetricsOptions {
  readonly procRoot?: string;
  readonly thermalRoot?: string;
}

export class SystemMetrics {
  readonly #proc: string;
  readonly #thermal: string;
  #previous: CpuTimes | undefined;

  constructor(options: SystemMetricsOptions = {}) {
    this.#proc = options.procRoot ?? '/proc';
    this.#thermal = options.thermalRoot ?? '/sys/class/thermal';
  }

  /** A sample with CPU % since the previous call (since boot on the first). */
  async sample(at: Date): Promise<MetricsSample> {
    const read = (name: string): Promise<string> => readFile(join(this.#proc, name), 'utf8');
    const [stat, meminfo, loadavg, uptime, mounts, netDev, temperature] = await Promise.all([
      read('stat'), read('meminfo'), read('loadavg'), read('uptime'),
      read('mounts').catch(() => ''), read('net/dev').catch(() => ''), hottestTemperature(this.#thermal),
    ]);
    const times = parseCpuTimes(stat);
    const cpuPercent = cpuPercentBetween(this.#previous, times);
    this.#previous = times;
    const memory = parseMemory(meminfo);
    return {
      at: at.toISOString(),
      cpu_percent: cpuPercent,
      memory_total_bytes: memory.totalBytes,
      memory_available_bytes: memory.availableBytes,
      memory_percent: clampPercent(((memory.totalBytes - memory.availableBytes) / memory.totalBytes) * 100),
      load: parseLoad(loadavg),
      temperature,
      uptime_s: Math.round(parseUptime(uptime)),
      disks: await diskFigures(parseMounts(mounts)),
      network: parseNetDev(netDev),
    };
  }
}

/** statfs(2) of each mount; one that cannot be read (permissions, a stale network mount)
 * is left out rather than failing the sample. Sizes as df(1) shows them: free is what an
 * unprivileged user may still write, used % leaves the reserved blocks out. */
async function diskFigures(mounts: readonly string[]): Promise<DiskFigures[]> {
  const figures = await Promise.all(mounts.map(async (mount): Promise<DiskFigures | undefined> => {
    try {
      const stats = await statfs(mount);
      if (stats.blocks === 0) return undefined;
      const used = stats.blocks - stats.bfree;
      return {
        mount, total_bytes: stats.blocks * stats.bsize, free_bytes: stats.bavail * stats.bsize,
        used_percent: clampPercent(used + stats.bavail === 0 ? 0 : (used / (used + stats.bavail)) * 100),
      };
    } catch {
      return undefined;
    }
  }));
  return figures.filter((figure): figure is DiskFigures => figure !== undefined);
}

/** The 1, 5 and 15 minute load averages of /proc/loadavg. */
export function parseLoad(loadavg: string): [number, number, number] {
  const [one, five, fifteen] = loadavg.trim().split(/\s+/).map(Number);
  if (![one, five, fifteen].every((value) => value !== undefined && Number.isFinite(value) && value >= 0)) {
    throw new HealthFiguresError('/proc/loadavg does not start with three load averages');
  }
  return [one!, five!, fifteen!];
}

/** The mount points of /proc/mounts worth a disk figure: block devices and the overlay
 * root of a container, not the pseudo filesystems; each point once (the first mount
 * listed), at most MAX_DISKS. Spaces and such are octal escapes there (getmntent(3)). */
export function parseMounts(mounts: string): string[] {
  const points: string[] = [];
  for (const line of mounts.split('\n')) {
    const [device, escapedPoint, type] = line.trim().split(/\s+/);
    if (device === undefined || escapedPoint === undefined || type === undefined) continue;
    if (PSEUDO_FILESYSTEMS.has(type) || type.startsWith('fuse.')) continue;
    if (!device.startsWith('/dev/') && type !== 'overlay') continue;
    const point = escapedPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
    if (!points.includes(point)) points.push(point);
    if (points.length === MAX_DISKS) break;
  }
  return points;
}

/** Received and transmitted bytes per interface of /proc/net/dev (the loopback left out:
 * it says nothing about the node's link), at most MAX_INTERFACES. */
export function parseNetDev(netDev: string): NetworkFigures[] {
  const figures: NetworkFigures[] = [];
  for (const line of netDev.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    // Eight receive counters, then the transmit ones: bytes first in each.
    const counters = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    const rx = counters[0];
    const tx = counters[8];
    if (iface === '' || iface === 'lo' || rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) continue;
    figures.push({ iface, rx_bytes: rx, tx_bytes: tx });
    if (figures.length === MAX_INTERFACES) break;
  }
  return figures;
}
