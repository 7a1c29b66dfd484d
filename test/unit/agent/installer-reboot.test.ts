// The installer's reboot phases on their own (installer.ts): what a start finds after a
// crash in the check that follows the reboot, the bounded wait for a reboot that never
// comes, the persisted reboot count that ends any loop, and a commit the install system
// refuses. The install system is a stand-in adapter here (the real ones, on the stand-in
// programs, run end to end in test/e2e/install-systems.test.ts).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INTERRUPTED_REASON, Installer, MAX_REBOOTS } from '../../../src/agent/installer.js';
import type { BootedSlot, InstallAdapter, RevertRequest } from '../../../src/agent/interfaces.js';
import { SlotDirectory } from '../../../src/agent/slots.js';
import { AgentStore, type InstallProgress, type NodeUpdateRecord } from '../../../src/agent/store.js';
import { UpdateMachine } from '../../../src/agent/update-machine.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { systemClock } from '../../../src/protocol/runtime.js';
import { makeImage, makePublisher, tempDir } from './fake-gateway.js';

/** A RAUC-like system booted from rootfs.1 (the new slot) that records what it is asked. */
function standInSystem(options: { booted?: BootedSlot; commit?: string } = {}): InstallAdapter & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: 'rauc', calls,
    target: () => Promise.resolve({ ok: true, slot: 'rootfs.1' }),
    activate: () => Promise.resolve({ kind: 'reboot' }),
    booted: () => Promise.resolve(options.booted ?? { ok: true, slot: 'rootfs.1', good: true }),
    commit: (target) => {
      calls.push(`commit ${target}`);
      return Promise.resolve(options.commit);
    },
    revert: (request: RevertRequest) => {
      calls.push(`revert ${request.target ?? 'null'} bootedNew=${request.bootedNew}`);
      return Promise.resolve({ problem: undefined, reboot: request.bootedNew });
    },
    inspect: () => Promise.resolve(null),
  };
}

const REBOOT_TIMEOUT_MS = 1500;

async function withInstall(
  adapter: InstallAdapter, install: Omit<InstallProgress, 'from' | 'to' | 'attempts'>,
  body: (f: { installer: Installer; machine: UpdateMachine; store: AgentStore; rebooted: () => boolean }) => Promise<void>,
): Promise<void> {
  const temp = await tempDir('coap-fleet-installer-reboot-');
  const store = AgentStore.open(join(temp.path, 'state'));
  try {
    const publisher = await makePublisher(temp.path);
    const image = await makeImage(temp.path, publisher, { updateId: 'u3', version: '3.0.0', size: 3000 });
    const slots = new SlotDirectory(join(temp.path, 'slots'));
    await slots.init();
    await slots.write('a', image.imagePath, '3.0.0');
    await slots.switchTo('a');
    const marker = join(temp.path, 'rebooted');
    const record: NodeUpdateRecord = {
      updateId: 'u3', manifest: image.manifest, state: 'installing', progress: 1, error: null, download: null,
      install: { from: null, to: 'a', attempts: 1, ...install }, updatedAt: new Date().toISOString(),
    };
    await store.saveUpdate(record);
    const installer = new Installer({
      slots, adapter, store, healthCheck: { command: undefined, timeoutMs: 5000 }, installedVersion: () => '2.0.0',
      // Nothing stops this "agent": the reboot command returns and the wait runs out. The same
      // bound limits the command itself, so it must cover spawning `touch` on a loaded machine.
      reboot: { command: `touch ${marker}`, timeoutMs: REBOOT_TIMEOUT_MS },
      stop: { requested: false, soft: new AbortController().signal, hard: new AbortController().signal }, clock: systemClock,
    });
    const log = createDaemonLogger({ level: 'silent', pretty: false, base: { node_id: 'n1' }, stream: { write: () => {} } });
    await body({ installer, machine: new UpdateMachine(record, store, log, () => {}), store, rebooted: () => existsSync(marker) });
  } finally {
    await store.close();
    await temp.remove();
  }
}

test('a crash in the check after the reboot: rolled back at the next start, the reboot back bounded by reboot_timeout_s', async () => {
  const adapter = standInSystem();
  await withInstall(adapter, { phase: 'rebooted-unverified', reason: null, target: 'rootfs.1', reboots: 1, bootedNew: true }, async (f) => {
    await f.installer.recover(f.machine);
    assert.equal([f.machine.state, f.machine.record.install?.phase, adapter.calls], ['installing', 'rolling-back', []], 'the reboot back is left to run()');
    await f.installer.run(f.machine);
    assert.equal(adapter.calls, ['revert rootfs.1 bootedNew=true']);
    assert.ok(f.rebooted(), 'reboot_command ran');
    const stored = f.store.update('u3')!;
    assert.is(stored.state, 'rolled_back');
    assert.is(stored.error, `${INTERRUPTED_REASON}; no reboot within ${REBOOT_TIMEOUT_MS / 1000} s of the reboot command: the old slot boots next`);
    assert.equal([stored.install?.phase, stored.install?.reboots], ['rolled-back', 2]);
  });
});

test(`at ${MAX_REBOOTS} reboots an install reboots no more`, async () => {
  const adapter = standInSystem();
  await withInstall(adapter, { phase: 'rolling-back', reason: 'health check exited 1', target: 'rootfs.1', reboots: MAX_REBOOTS, bootedNew: true }, async (f) => {
    await f.installer.run(f.machine);
    assert.not.ok(f.rebooted());
    const stored = f.store.update('u3')!;
    assert.is(stored.state, 'rolled_back');
    assert.is(stored.error, `health check exited 1; not rebooted: ${MAX_REBOOTS} reboots for this install already: the old slot boots next`);
  });
});

test('after the reboot: a commit the install system refuses rolls back, and a slot marked bad is left', async () => {
  const refusing = standInSystem({ commit: 'rauc status mark-good exited 1: D-Bus error' });
  await withInstall(refusing, { phase: 'awaiting-reboot', reason: null, target: 'rootfs.1', reboots: 1 }, async (f) => {
    await f.installer.run(f.machine);
    assert.equal(refusing.calls, ['commit rootfs.1', 'revert rootfs.1 bootedNew=true']);
    assert.is(f.store.update('u3')!.state, 'rolled_back');
    assert.ok(f.store.update('u3')!.error!.startsWith('cannot commit the new slot: rauc status mark-good exited 1: D-Bus error; no reboot within'));
  });
  const bad = standInSystem({ booted: { ok: true, slot: 'rootfs.1', good: false } });
  await withInstall(bad, { phase: 'awaiting-reboot', reason: null, target: 'rootfs.1', reboots: 1 }, async (f) => {
    await f.installer.run(f.machine);
    assert.equal(bad.calls, ['revert rootfs.1 bootedNew=true']);
    assert.ok(f.store.update('u3')!.error!.startsWith('after the reboot slot rootfs.1 is marked bad'));
  });
});

test('after the reboot, the new slot running and healthy: committed with the system and in LMDB', async () => {
  const adapter = standInSystem();
  await withInstall(adapter, { phase: 'awaiting-reboot', reason: null, target: 'rootfs.1', reboots: 1 }, async (f) => {
    await f.installer.run(f.machine);
    assert.equal(adapter.calls, ['commit rootfs.1']);
    assert.is(f.store.update('u3')!.state, 'installed');
    assert.equal(f.store.slots(), { committed: 'a', version: '3.0.0', updateId: 'u3' });
    assert.not.ok(f.rebooted());
  });
});

test.run();
