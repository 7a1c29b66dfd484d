// Installs through RAUC and SWUpdate that need a reboot (issue 13), with agents as real
// processes on stand-in devices (test/helpers/stand-in-device.ts): the agent persists
// "awaiting reboot", runs reboot_command, is stopped and started again by the harness as by
// a reboot, checks the booted slot and its health, then commits (mark-good, or the U-Boot
// environment) or rolls back, rebooting again when the device runs the bad slot.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentPaths } from '../../src/agent/agent.js';
import { INTERRUPTED_REASON } from '../../src/agent/installer.js';
import { withFleet, type Fleet } from '../helpers/fleet.js';
import { StandInDevice, type InstallSystem } from '../helpers/stand-in-device.js';

const IMAGE_SIZE = 128 * 1024;
const POLICY = { max_parallel_installs: 7, canary: 0, failure_threshold: 7 };
/** What a rolled-back install logs at warn or above, by design. */
const EXPECTED = [/^new version failed: rolling back$/];

async function devices(fleet: Fleet, systems: Readonly<Record<string, InstallSystem>>): Promise<Map<string, StandInDevice>> {
  const made = new Map<string, StandInDevice>();
  for (const [id, system] of Object.entries(systems)) made.set(id, await StandInDevice.create(fleet, id, system));
  return made;
}

const slotDir = (fleet: Fleet, id: string, slot: string): string => join(agentPaths(fleet.agentDataDir(id)).slots, slot);

test('RAUC and SWUpdate installs reboot into the new slot, commit it after the health check and report installed', async () => {
  const systems = { 'rauc-node': 'rauc', 'swupdate-node': 'swupdate' } as const;
  await withFleet({ name: 'install-systems', nodeIds: Object.keys(systems) }, async (fleet) => {
    const device = await devices(fleet, systems);
    try {
      await fleet.startGateway();
      for (const one of device.values()) await one.start();
      await fleet.waitForNodes(Object.keys(systems), 30_000, '1.0.0');

      const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
      await fleet.publish({ image, version: '2.0.0', targets: Object.keys(systems), policy: POLICY });
      const final = await fleet.watch('fw-2.0.0', 90_000);
      assert.equal(final.nodes['rauc-node'], { ...final.nodes['rauc-node']!, state: 'installed', error: null });
      assert.equal(final.nodes['swupdate-node'], { ...final.nodes['swupdate-node']!, state: 'installed', error: null });
      await fleet.waitForNodes(Object.keys(systems), 20_000, '2.0.0');

      const rauc = device.get('rauc-node')!;
      assert.is(rauc.reboots, 1);
      const slots = rauc.rauc();
      assert.is(slots.booted, 'rootfs.1');
      assert.is(slots.primary, 'rootfs.1');
      assert.equal(slots.slots['rootfs.1'], { bootname: 'B', boot_status: 'good', bundle_sha256: image.sha256 });
      const raucCalls = rauc.calls();
      assert.ok(raucCalls.includes(`rauc install ${join(slotDir(fleet, 'rauc-node', 'a'), 'bundle.raucb')}`), raucCalls.join('\n'));
      // Committed only after the reboot: mark-good is the last call, after the reboot.
      assert.equal(raucCalls.slice(raucCalls.indexOf('reboot')).filter((call) => call.startsWith('rauc status mark')), ['rauc status mark-good booted']);

      const swupdate = device.get('swupdate-node')!;
      assert.is(swupdate.reboots, 1);
      assert.equal(swupdate.ubootEnv(), { boot_copy: 'copy2', upgrade_available: '0', bootcount: '1', bootlimit: '3' });
      assert.is(swupdate.swupdateCopies().copy2, image.sha256);
      const swupdateCalls = swupdate.calls();
      assert.ok(swupdateCalls.includes(`swupdate -i ${join(slotDir(fleet, 'swupdate-node', 'a'), 'image.bin')} -e stable,copy2`), swupdateCalls.join('\n'));
      assert.is(swupdateCalls.at(-1), 'fw_setenv upgrade_available 0');

      for (const id of Object.keys(systems)) {
        await fleet.agent(id).stop();
        const state = await fleet.agentState(id);
        assert.equal(state.slots, { committed: 'a', version: '2.0.0', updateId: 'fw-2.0.0' }, id);
        const install = state.updates.find((update) => update.updateId === 'fw-2.0.0')!.install!;
        assert.is(install.phase, 'committed', id);
        assert.is(install.reboots, 1, id);
        assert.is(state.reported['fw-2.0.0'], 'installed', id);
      }
      assert.equal(fleet.unexpectedLines(), []);
    } finally {
      for (const one of device.values()) await one.close();
    }
  });
});

test('a slot the bootloader left, a new slot failing its health check, a reboot that never comes, a failing and a hanging rauc install: rolled back with the reason', async () => {
  const systems = {
    'rauc-fallback': 'rauc', 'swupdate-fallback': 'swupdate', 'rauc-unhealthy': 'rauc', 'swupdate-unhealthy': 'swupdate',
    'rauc-no-reboot': 'rauc', 'rauc-broken': 'rauc', 'rauc-hung': 'rauc',
  } as const;
  await withFleet({ name: 'install-systems-bad', nodeIds: Object.keys(systems) }, async (fleet) => {
    const device = await devices(fleet, systems);
    try {
      await device.get('rauc-fallback')!.fault('boot-fails');
      await device.get('swupdate-fallback')!.fault('boot-fails');
      await device.get('rauc-broken')!.fault('rauc-install-fails', '1 signature verification failed');
      await device.get('rauc-hung')!.fault('rauc-install-hangs');
      await fleet.startGateway();
      await device.get('rauc-fallback')!.start();
      await device.get('swupdate-fallback')!.start();
      await device.get('rauc-unhealthy')!.start({ health_check_command: 'exit 1' });
      await device.get('swupdate-unhealthy')!.start({ health_check_command: 'exit 1' });
      // The command returns and nothing stops the agent: no reboot.
      await device.get('rauc-no-reboot')!.start({ reboot_command: 'true', reboot_timeout_s: 1 });
      await device.get('rauc-broken')!.start();
      await device.get('rauc-hung')!.start({ install_timeout_s: 2 });
      await fleet.waitForNodes(Object.keys(systems), 30_000, '1.0.0');

      const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
      await fleet.publish({ image, version: '2.0.0', targets: Object.keys(systems), policy: POLICY });
      const final = await fleet.watch('fw-2.0.0', 120_000);
      const outcome = (id: string) => ({ state: final.nodes[id]!.state, error: final.nodes[id]!.error });
      assert.equal(outcome('rauc-fallback'), {
        state: 'rolled_back', error: 'after the reboot the device runs slot rootfs.0, not the new rootfs.1: the bootloader fell back',
      });
      assert.equal(outcome('swupdate-fallback'), {
        state: 'rolled_back', error: 'after the reboot the device runs slot copy1, not the new copy2: the bootloader fell back',
      });
      assert.equal(outcome('rauc-unhealthy'), { state: 'rolled_back', error: 'health check exited 1' });
      assert.equal(outcome('swupdate-unhealthy'), { state: 'rolled_back', error: 'health check exited 1' });
      assert.equal(outcome('rauc-no-reboot'), { state: 'rolled_back', error: 'no reboot within 1 s of the reboot command' });
      assert.equal(outcome('rauc-broken'), { state: 'rolled_back', error: 'rauc install exited 1: signature verification failed' });
      assert.equal(outcome('rauc-hung'), { state: 'rolled_back', error: 'rauc install timed out after 2 s' });

      // Into the new slot and back out of it; the others never rebooted after the bootloader's fallback.
      assert.is(device.get('rauc-unhealthy')!.reboots, 2);
      assert.is(device.get('swupdate-unhealthy')!.reboots, 2);
      assert.is(device.get('rauc-fallback')!.reboots, 1);
      assert.is(device.get('swupdate-fallback')!.reboots, 1);
      assert.is(device.get('rauc-no-reboot')!.reboots, 0);
      assert.is(device.get('rauc-broken')!.reboots, 0);
      assert.is(device.get('rauc-hung')!.reboots, 0);
      const unhealthyCalls = device.get('rauc-unhealthy')!.calls();
      assert.ok(unhealthyCalls.join('\n').includes('rauc status mark-bad booted\nrauc status mark-active other\nreboot'), unhealthyCalls.join('\n'));
      // The new slot is marked bad and the booted one primary again, whichever way it failed.
      for (const id of ['rauc-fallback', 'rauc-unhealthy', 'rauc-no-reboot']) {
        const slots = device.get(id)!.rauc();
        assert.equal([slots.booted, slots.primary, slots.slots['rootfs.1']!.boot_status], ['rootfs.0', 'rootfs.0', 'bad'], id);
      }
      for (const id of ['rauc-broken', 'rauc-hung']) {
        const slots = device.get(id)!.rauc();
        assert.equal([slots.booted, slots.primary], ['rootfs.0', 'rootfs.0'], id);
        assert.ok(device.get(id)!.calls().includes('rauc status mark-active booted'), id);
      }
      assert.equal(device.get('swupdate-fallback')!.ubootEnv().boot_copy, 'copy1');
      // Copy2 booted and counted once; set back to copy1 and the counting ended before the reboot back.
      assert.equal(device.get('swupdate-unhealthy')!.ubootEnv(), { boot_copy: 'copy1', upgrade_available: '0', bootcount: '1', bootlimit: '3' });

      await fleet.waitForNodes(Object.keys(systems), 20_000, '1.0.0');
      for (const id of Object.keys(systems)) {
        await fleet.agent(id).stop();
        const state = await fleet.agentState(id);
        assert.equal(state.slots, { committed: null, version: null, updateId: null }, id);
        assert.is(state.updates.find((update) => update.updateId === 'fw-2.0.0')!.install!.phase, 'rolled-back', id);
        assert.is(state.reported['fw-2.0.0'], 'rolled_back', id);
      }
      assert.equal(fleet.unexpectedLines(EXPECTED), []);
    } finally {
      for (const one of device.values()) await one.close();
    }
  });
});

test('an agent killed during rauc install rolls back at its next start, on the slot it had recorded', async () => {
  const id = 'rauc-killed';
  await withFleet({ name: 'install-systems-kill', nodeIds: [id] }, async (fleet) => {
    const device = await StandInDevice.create(fleet, id, 'rauc');
    try {
      await device.fault('rauc-install-hangs');
      await fleet.startGateway();
      await device.start({ install_timeout_s: 600 });
      await fleet.waitForNodes([id], 30_000, '1.0.0');
      const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
      await fleet.publish({ image, version: '2.0.0', targets: [id], policy: POLICY });
      await fleet.until('rauc install under way', () => (device.calls().some((call) => call.startsWith('rauc install')) ? true : undefined), 60_000);
      await fleet.agent(id).kill();
      const recorded = (await fleet.agentState(id)).updates.find((update) => update.updateId === 'fw-2.0.0')!.install!;
      assert.equal([recorded.phase, recorded.target], ['switched-unverified', 'rootfs.1']);

      await fleet.restartAgent(id);
      const final = await fleet.watch('fw-2.0.0', 60_000);
      assert.equal({ state: final.nodes[id]!.state, error: final.nodes[id]!.error }, { state: 'rolled_back', error: INTERRUPTED_REASON });
      const slots = device.rauc();
      assert.equal([slots.booted, slots.primary, slots.slots['rootfs.1']!.boot_status], ['rootfs.0', 'rootfs.0', 'bad']);
      assert.equal(device.calls().slice(-2), ['rauc status mark-bad rootfs.1', 'rauc status mark-active booted']);
      assert.is(device.reboots, 0);
      assert.equal(fleet.unexpectedLines([...EXPECTED, /^restarted during an unverified install: rolling back$/]), []);
    } finally {
      await device.close();
    }
  });
});

test.run();
