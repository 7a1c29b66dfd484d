// The agent's state on real files and a real LMDB: health figures from /proc-like files,
// the A/B slot directory, the update state machine's refusals, and the install recovery
// after a crash at each phase.

import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createInstallAdapter } from '../../../src/agent/install-adapters.js';
import { INTERRUPTED_REASON, Installer } from '../../../src/agent/installer.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { SlotDirectory } from '../../../src/agent/slots.js';
import { AgentStore, type NodeUpdateRecord } from '../../../src/agent/store.js';
import { classify, parseCpuTimes, parseMemoryPercent, SystemHealth } from '../../../src/agent/system-health.js';
import { UpdateMachine } from '../../../src/agent/update-machine.js';
import { systemClock } from '../../../src/protocol/runtime.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { makeImage, makePublisher, tempDir } from './fake-gateway.js';

const PROC_STAT_1 = 'cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 100 0 100 700 100 0 0 0 0 0\nintr 1\n';
const PROC_STAT_2 = 'cpu  250 0 150 800 100 0 0 0 0 0\ncpu0 250 0 150 800 100 0 0 0 0 0\nintr 1\n';
const MEMINFO = 'MemTotal:        1000000 kB\nMemFree:          100000 kB\nMemAvailable:     250000 kB\n';

test('health figures: CPU % over the interval from /proc/stat, memory from MemAvailable, hottest thermal zone, uptime', async () => {
  const temp = await tempDir('coap-fleet-agent-health-');
  try {
    const proc = join(temp.path, 'proc');
    const thermal = join(temp.path, 'thermal');
    await mkdir(proc);
    await mkdir(join(thermal, 'thermal_zone0'), { recursive: true });
    await mkdir(join(thermal, 'thermal_zone1'), { recursive: true });
    await writeFile(join(thermal, 'thermal_zone0', 'temp'), '48500\n');
    await writeFile(join(thermal, 'thermal_zone1', 'temp'), '51250\n');
    await writeFile(join(proc, 'stat'), PROC_STAT_1);
    await writeFile(join(proc, 'meminfo'), MEMINFO);
    await writeFile(join(proc, 'uptime'), '12345.67 40000.00\n');
    const health = new SystemHealth({ procRoot: proc, thermalRoot: thermal });
    const first = await health.sample(new Date('2025-01-01T00:00:00Z'));
    assert.is(first.cpu_percent, 20, 'since boot: 200 busy of 1000');
    await writeFile(join(proc, 'stat'), PROC_STAT_2);
    const second = await health.sample(new Date('2025-01-01T00:00:10Z'));
    // 200 more busy ticks of 300 more in all.
    assert.equal(second, {
      status: 'healthy', cpu_percent: 66.7, memory_percent: 75, temperature: 51.3, uptime_s: 12346, timestamp: '2025-01-01T00:00:10.000Z',
    });
    const none = new SystemHealth({ procRoot: proc, thermalRoot: join(temp.path, 'absent') });
    assert.is((await none.sample()).temperature, null, 'no sensor: null');
  } finally {
    await temp.remove();
  }
});

test('health parsing and status thresholds; this machine\'s own /proc reads', async () => {
  assert.equal(parseCpuTimes(PROC_STAT_1), { busy: 200, total: 1000 });
  assert.is(parseMemoryPercent(MEMINFO), 75);
  assert.is(classify(10, 50, null), 'healthy');
  assert.is(classify(95, 50, 40), 'degraded');
  assert.is(classify(10, 96, 40), 'unhealthy');
  assert.is(classify(10, 50, 86), 'unhealthy');
  const report = await new SystemHealth().sample();
  assert.ok(report.memory_percent > 0 && report.memory_percent <= 100);
  assert.ok(report.uptime_s > 0);
});

test('slots: written whole, switched atomically through a relative symlink, idempotent, and removable', async () => {
  const temp = await tempDir('coap-fleet-agent-slots-');
  try {
    const slots = new SlotDirectory(join(temp.path, 'slots'));
    await slots.init();
    assert.is(await slots.active(), null);
    const source = join(temp.path, 'image');
    await writeFile(source, 'image bytes');
    await slots.write('b', source, '2.0.0');
    assert.is(await slots.version('b'), '2.0.0');
    await slots.switchTo('b');
    await slots.switchTo('b');
    assert.is(await readlink(slots.currentPath), 'b');
    assert.is(await readFile(join(slots.currentPath, 'image.bin'), 'utf8'), 'image bytes');
    await slots.write('b', source, '3.0.0');
    assert.is(await slots.version('b'), '3.0.0', 'rewritten whole');
    await slots.switchTo(null);
    assert.is(await slots.active(), null);
  } finally {
    await temp.remove();
  }
});

/** The error `run` rejects with (uvu's assert has no rejects). */
async function rejection(run: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

interface Fixture {
  store: AgentStore;
  slots: SlotDirectory;
  installer: Installer;
  reports: NodeUpdateRecord[];
  machine: (record: NodeUpdateRecord) => UpdateMachine;
  record: NodeUpdateRecord;
  remove: () => Promise<void>;
}

/** Slot a committed with 2.0.0, an update to 3.0.0 downloaded and verified. */
async function fixture(): Promise<Fixture> {
  const temp = await tempDir('coap-fleet-agent-install-');
  const publisher = await makePublisher(temp.path);
  const image = await makeImage(temp.path, publisher, { updateId: 'u3', version: '3.0.0', size: 3000 });
  const store = AgentStore.open(join(temp.path, 'state'));
  const slots = new SlotDirectory(join(temp.path, 'slots'));
  await slots.init();
  await slots.write('a', image.imagePath, '2.0.0');
  await slots.switchTo('a');
  await store.saveSlots({ committed: 'a', version: '2.0.0', updateId: 'u2' });
  const config = loadAgentConfig({ flags: { node_id: 'n1', gateway: 'coap://127.0.0.1:1', publisher_key: publisher.publicKeyPath } });
  const installer = new Installer({
    slots, adapter: createInstallAdapter(config), store, healthCheck: { command: undefined, timeoutMs: 1000 },
    installedVersion: () => store.slots().version ?? '1.0.0',
    // The directory adapter never reboots: a stop token that is never requested will do.
    reboot: { command: 'false', timeoutMs: 1000 }, stop: { requested: false, soft: new AbortController().signal, hard: new AbortController().signal }, clock: systemClock,
  });
  const log = createDaemonLogger({ level: 'silent', pretty: false, base: { node_id: 'n1' }, stream: { write: () => {} } });
  const reports: NodeUpdateRecord[] = [];
  const record: NodeUpdateRecord = {
    updateId: 'u3', manifest: image.manifest, state: 'installing', progress: 1, error: null,
    download: { path: image.imagePath, etag: image.sha256.slice(0, 16), sha256: image.sha256, verified: 3000 }, install: null,
    updatedAt: new Date().toISOString(),
  };
  return {
    store, slots, installer, reports, record,
    machine: (value) => new UpdateMachine(value, store, log, (changed) => reports.push(changed)),
    remove: async () => {
      await store.close();
      await temp.remove();
    },
  };
}

test('the update state machine refuses moves update-state.ts does not allow, and persists before it reports', async () => {
  const f = await fixture();
  try {
    const machine = f.machine({ ...f.record, state: 'pending' });
    const illegal = await rejection(() => machine.transition('installed'));
    assert.is(illegal.code, 'AGENT_ERR_STATE');
    assert.is(illegal.message, 'illegal update state move pending -> installed');
    await machine.transition('downloading', { progress: 0 });
    assert.is(f.store.update('u3')!.state, 'downloading');
    assert.equal(f.reports.map((record) => record.state), ['downloading']);
    await machine.transition('failed', { error: 'refused: test' });
    assert.is((await rejection(() => machine.transition('downloading'))).code, 'AGENT_ERR_STATE', 'nothing leaves a terminal state');
    assert.is(f.store.update('u3')!.download, null, 'entering a terminal state drops the download');
  } finally {
    await f.remove();
  }
});

test('recovery after a crash past the switch: current back on the old slot, rolled_back reported once', async () => {
  const f = await fixture();
  try {
    // As the installer leaves it just after the rename of `current`.
    await f.slots.write('b', f.record.download!.path, '3.0.0');
    await f.slots.switchTo('b');
    const crashed = { ...f.record, install: { phase: 'switched-unverified' as const, from: 'a' as const, to: 'b' as const, attempts: 1, reason: null } };
    await f.store.saveUpdate(crashed);
    await f.installer.recover(f.machine(crashed));
    assert.is(await f.slots.active(), 'a');
    const stored = f.store.update('u3')!;
    assert.is(stored.state, 'rolled_back');
    assert.is(stored.error, INTERRUPTED_REASON);
    assert.is(stored.install?.phase, 'rolled-back');
    assert.equal(f.reports.map((record) => record.state), ['rolled_back']);
    assert.equal(f.store.slots(), { committed: 'a', version: '2.0.0', updateId: 'u2' });
  } finally {
    await f.remove();
  }
});

test('recovery after a crash while writing the slot: the old slot runs, the install is done again and committed', async () => {
  const f = await fixture();
  try {
    const crashed = { ...f.record, install: { phase: 'writing' as const, from: 'a' as const, to: 'b' as const, attempts: 1, reason: null } };
    await f.store.saveUpdate(crashed);
    const machine = f.machine(crashed);
    await f.installer.recover(machine);
    assert.is(machine.state, 'installing', 'nothing to undo: still installing');
    assert.is(await f.slots.active(), 'a');
    await f.installer.run(machine);
    assert.is(f.store.update('u3')!.state, 'installed');
    assert.is(f.store.update('u3')!.install?.attempts, 2);
    assert.is(await f.slots.active(), 'b');
    assert.equal(f.store.slots(), { committed: 'b', version: '3.0.0', updateId: 'u3' });
    assert.equal(f.reports.map((record) => record.state), ['installed']);
  } finally {
    await f.remove();
  }
});

test('recovery after a crash mid-roll-back keeps the first reason; an install crashing at each write gives up after three', async () => {
  const f = await fixture();
  try {
    const rolling = { ...f.record, install: { phase: 'rolling-back' as const, from: 'a' as const, to: 'b' as const, attempts: 1, reason: 'health check exited 1' } };
    await f.store.saveUpdate(rolling);
    await f.installer.recover(f.machine(rolling));
    assert.is(f.store.update('u3')!.error, 'health check exited 1');
    assert.is(f.store.update('u3')!.state, 'rolled_back');

    const looping = { ...f.record, updateId: 'u4', install: { phase: 'writing' as const, from: 'a' as const, to: 'b' as const, attempts: 3, reason: null } };
    await f.store.saveUpdate(looping);
    const machine = f.machine(looping);
    await f.installer.recover(machine);
    await f.installer.run(machine);
    assert.is(f.store.update('u4')!.state, 'failed');
    assert.is(f.store.update('u4')!.error, 'install failed: slot b not written after 3 attempts');
    assert.is(await f.slots.active(), 'a');
  } finally {
    await f.remove();
  }
});

test.run();
