// The metrics sample read from kernel files the test writes (proc(5)): CPU % between two
// readings, memory in bytes, load, the hottest thermal zone, disks from /proc/mounts
// (pseudo filesystems left out, octal escapes decoded, sizes from a real statfs) and the
// network counters of /proc/net/dev.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthFiguresError } from '../../../src/agent/errors.js';
import { parseLoad, parseMounts, parseNetDev, SystemMetrics } from '../../../src/agent/system-metrics.js';
import { tempDir } from './fake-gateway.js';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
  eth0: 987654321  5000    0    0    0     0          0         0 12345678    4000    0    0    0     0       0          0
wlan0:      10       1    0    0    0     0          0         0       20       2    0    0    0     0       0          0
`;

test('parseNetDev: bytes in and out per interface, the loopback left out', () => {
  assert.equal(parseNetDev(NET_DEV), [
    { iface: 'eth0', rx_bytes: 987654321, tx_bytes: 12345678 },
    { iface: 'wlan0', rx_bytes: 10, tx_bytes: 20 },
  ]);
  assert.equal(parseNetDev('garbage\n: 1 2\n'), []);
});

test('parseMounts: block devices and an overlay root, not the pseudo filesystems; each point once; escapes decoded', () => {
  const mounts = [
    'overlay / overlay rw,relatime,lowerdir=/a,upperdir=/b 0 0',
    'proc /proc proc rw,nosuid 0 0',
    'sysfs /sys sysfs ro 0 0',
    'tmpfs /dev tmpfs rw 0 0',
    'devpts /dev/pts devpts rw 0 0',
    'cgroup /sys/fs/cgroup cgroup2 ro 0 0',
    '/dev/mmcblk0p2 /data ext4 rw,relatime 0 0',
    '/dev/sda1 /media/usb\\040stick vfat rw 0 0',
    '/dev/mmcblk0p2 /data ext4 rw,relatime 0 0',
    'gvfsd-fuse /run/user/1000/gvfs fuse.gvfsd-fuse rw 0 0',
    'nfs-server:/export /mnt/nfs nfs4 rw 0 0',
  ].join('\n');
  assert.equal(parseMounts(mounts), ['/', '/data', '/media/usb stick']);
});

test('parseLoad: three averages, or a typed error', () => {
  assert.equal(parseLoad('0.52 1.10 2.00 1/234 5678\n'), [0.52, 1.1, 2]);
  assert.throws(() => parseLoad('nonsense'), (error: unknown) => error instanceof HealthFiguresError);
});

test('a sample from written /proc files: CPU % since the previous one, memory in bytes, hottest zone, real disk sizes', async () => {
  const temp = await tempDir('coap-fleet-metrics-');
  try {
    const proc = join(temp.path, 'proc');
    const thermal = join(temp.path, 'thermal');
    const disk = join(temp.path, 'disk');
    await mkdir(join(proc, 'net'), { recursive: true });
    await mkdir(join(thermal, 'thermal_zone0'), { recursive: true });
    await mkdir(join(thermal, 'thermal_zone1'), { recursive: true });
    await mkdir(disk);
    await writeFile(join(thermal, 'thermal_zone0', 'temp'), '41000\n');
    await writeFile(join(thermal, 'thermal_zone1', 'temp'), '57500\n');
    await writeFile(join(proc, 'meminfo'), 'MemTotal:        1000000 kB\nMemFree:          100000 kB\nMemAvailable:     250000 kB\n');
    await writeFile(join(proc, 'loadavg'), '0.10 0.20 0.30 1/100 42\n');
    await writeFile(join(proc, 'uptime'), '3600.49 7000.00\n');
    await writeFile(join(proc, 'mounts'), `proc /proc proc rw 0 0\n/dev/vda1 ${disk} ext4 rw 0 0\n`);
    await writeFile(join(proc, 'net', 'dev'), NET_DEV);
    await writeFile(join(proc, 'stat'), 'cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n');
    const metrics = new SystemMetrics({ procRoot: proc, thermalRoot: thermal });
    await metrics.sample(new Date(0));
    // 300 more jiffies busy out of 400: 75 %.
    await writeFile(join(proc, 'stat'), 'cpu  300 0 200 900 0 0 0 0 0 0\n');
    const sample = await metrics.sample(new Date(Date.UTC(2026, 11, 6, 12)));
    assert.is(sample.at, '2026-12-06T12:00:00.000Z');
    assert.is(sample.cpu_percent, 75);
    assert.is(sample.memory_total_bytes, 1_000_000 * 1024);
    assert.is(sample.memory_available_bytes, 250_000 * 1024);
    assert.is(sample.memory_percent, 75);
    assert.equal(sample.load, [0.1, 0.2, 0.3]);
    assert.is(sample.temperature, 57.5);
    assert.is(sample.uptime_s, 3600);
    assert.equal(sample.network.map((figures) => figures.iface), ['eth0', 'wlan0']);
    assert.is(sample.disks.length, 1);
    const [figures] = sample.disks;
    assert.is(figures!.mount, disk);
    assert.ok(figures!.total_bytes > 0 && figures!.free_bytes <= figures!.total_bytes, JSON.stringify(figures));
    assert.ok(figures!.used_percent >= 0 && figures!.used_percent <= 100);
  } finally {
    await temp.remove();
  }
});

test.run();
