// `rauc status --output-format=json` as RAUC prints it (the shape of rauc's own JSON
// output: booted by bootname, boot_primary by slot name, slots as one-key objects), and
// what the parser makes of other text.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRaucStatus } from '../../../src/agent/rauc-status.js';

/** After `rauc install` on a system booted from A: B written and primary. */
const AFTER_INSTALL = JSON.stringify({
  compatible: 'qemu86-64 demo platform', variant: '', booted: 'A', boot_primary: 'rootfs.1',
  slots: [
    { 'rootfs.0': { class: 'rootfs', device: '/dev/sda4', type: 'ext4', bootname: 'A', state: 'booted', parent: null, mountpoint: '/', boot_status: 'good' } },
    { 'efi.0': { class: 'efi', device: '/dev/sda', type: 'boot-gpt-switch', bootname: null, state: 'inactive', parent: null, mountpoint: null, boot_status: null } },
    {
      'rootfs.1': {
        class: 'rootfs', device: '/dev/sda5', type: 'ext4', bootname: 'B', state: 'inactive', parent: null, mountpoint: null, boot_status: 'good',
        slot_status: { bundle: { compatible: 'qemu86-64 demo platform' } },
      },
    },
  ],
});

test('booted and primary slots of a real status, the slots in order', () => {
  const status = parseRaucStatus(AFTER_INSTALL);
  assert.ok(typeof status !== 'string');
  assert.equal(status.booted, { name: 'rootfs.0', bootname: 'A', state: 'booted', bootStatus: 'good' });
  assert.is(status.primary, 'rootfs.1');
  assert.equal(status.slots.map((slot) => [slot.name, slot.bootStatus]), [['rootfs.0', 'good'], ['efi.0', null], ['rootfs.1', 'good']]);
});

test('no slot in state "booted": the one whose bootname `booted` names; none at all: undefined', () => {
  const older = JSON.parse(AFTER_INSTALL) as { booted: string; slots: Record<string, { state: string }>[] };
  older.slots[0]!['rootfs.0']!.state = 'active';
  older.booted = 'B';
  const status = parseRaucStatus(JSON.stringify(older));
  assert.ok(typeof status !== 'string');
  assert.is(status.booted?.name, 'rootfs.1');
  older.booted = '';
  const none = parseRaucStatus(JSON.stringify(older));
  assert.ok(typeof none !== 'string');
  assert.is(none.booted, undefined);
});

test('a bad booted slot and an unknown primary', () => {
  const status = parseRaucStatus(JSON.stringify({
    booted: 'B', boot_primary: null, slots: [{ 'rootfs.1': { bootname: 'B', state: 'booted', boot_status: 'bad' } }],
  }));
  assert.ok(typeof status !== 'string');
  assert.equal([status.booted?.bootStatus, status.primary], ['bad', null]);
});

test('text that is not RAUC\'s status is a problem, never a throw', () => {
  assert.is(parseRaucStatus('Compatible: foo\nBooted from: rootfs.0 (A)').toString().startsWith('rauc status is not JSON'), true);
  assert.is(parseRaucStatus('{"booted":"A"}'), 'rauc status has no "slots" list');
  assert.is(parseRaucStatus('[]'), 'rauc status has no "slots" list');
  assert.is(parseRaucStatus('{"slots":[7]}'), 'rauc status: a slot entry is not an object');
  assert.is(parseRaucStatus('{"slots":[{"rootfs.0":{"bootname":"A"}}]}'), 'rauc status: slot rootfs.0 has no state');
});

test.run();
