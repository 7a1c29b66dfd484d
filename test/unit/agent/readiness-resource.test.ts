// GET /update-readiness of the agent (issue 13, the dry run): the evaluation of the figures
// (room for the download and the slot copy less the reserve, an install in flight, the
// install system's problems), and the resource on a real Endpoint over UDP loopback with a
// real store, a real slot directory, statfs(2) of a real directory and the real RAUC and
// SWUpdate adapters running the stand-in programs of test/fixtures/bin.

import { statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { raucAdapter } from '../../../src/agent/install-rauc.js';
import { swupdateAdapter } from '../../../src/agent/install-swupdate.js';
import type { InstallAdapter } from '../../../src/agent/interfaces.js';
import { addReadinessResource, readinessView, type ReadinessFigures } from '../../../src/agent/readiness-resource.js';
import { SlotDirectory } from '../../../src/agent/slots.js';
import { AgentStore } from '../../../src/agent/store.js';
import { decodeCbor } from '../../../src/fleet/cbor.js';
import type { ReadinessView } from '../../../src/fleet/update-readiness.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { describeCode, ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { ROOT } from '../../helpers/fleet.js';
import { tempDir } from './fake-gateway.js';

const FIGURES: ReadinessFigures = {
  nodeId: 'n1', version: '1.0.0', installSystem: 'slots', freeBytes: 10_000, reservedBytes: 0, imageBytes: 1000, staleImageBytes: 0,
  committed: 'a', current: 'a', system: null, install: null,
};

test('an image needs room for its download and its slot copy, less the inactive slot\'s old image, within the space not reserved', () => {
  const fine = readinessView(FIGURES);
  assert.equal(fine.space, { free_bytes: 10_000, reserved_bytes: 0, usable_bytes: 10_000, image_bytes: 1000, needed_bytes: 2000 });
  assert.equal(fine.problems, []);
  const reserved = readinessView({ ...FIGURES, reservedBytes: 8500 });
  assert.is(reserved.space.usable_bytes, 1500);
  assert.equal(reserved.problems.map((problem) => problem.kind), ['space']);
  assert.match(reserved.problems[0]!.message, 'needs 2000 (download and slot copy), 1500 usable (10000 free less 8500 reserved)');
  // The old image of the slot written next goes before the copy: its bytes count.
  const reclaimed = readinessView({ ...FIGURES, reservedBytes: 8500, staleImageBytes: 600 });
  assert.is(reclaimed.space.needed_bytes, 1400);
  assert.equal(reclaimed.problems, []);
  assert.is(readinessView({ ...FIGURES, reservedBytes: 20_000 }).space.usable_bytes, 0);
  const unsized = readinessView({ ...FIGURES, imageBytes: null, freeBytes: 0 });
  assert.is(unsized.space.needed_bytes, null);
  assert.equal(unsized.problems, []);
});

test('an install in flight makes the node busy, and the install system\'s problems are slot problems', () => {
  const view = readinessView({
    ...FIGURES, installSystem: 'rauc',
    install: { update_id: 'fw-2', version: '2.0.0', phase: 'awaiting-reboot' },
    system: { booted: 'rootfs.0', other: 'rootfs.1', details: {}, problems: ['the other slot rootfs.1 is marked bad (its last install or boot failed)'] },
  });
  assert.equal(view.problems, [
    { kind: 'busy', message: 'installing fw-2 (2.0.0), awaiting-reboot' },
    { kind: 'slot', message: 'the other slot rootfs.1 is marked bad (its last install or boot failed)' },
  ]);
  assert.equal(view.slots.install, { update_id: 'fw-2', version: '2.0.0', phase: 'awaiting-reboot' });
});

interface World {
  readonly get: (query?: string[], accept?: number) => Promise<CoapResponse>;
  readonly device: string;
  readonly data: string;
}

/** The resource on its own endpoint, the stand-ins first on PATH (restored after). */
async function withResource(adapterOf: (device: string) => InstallAdapter, reservedBytes: number, run: (world: World) => Promise<void>): Promise<void> {
  const temp = await tempDir('coap-fleet-readiness-');
  const saved = { PATH: process.env.PATH, dir: process.env.COAP_FLEET_STANDIN_DIR };
  process.env.PATH = `${join(ROOT, 'test', 'fixtures', 'bin')}:${saved.PATH ?? ''}`;
  process.env.COAP_FLEET_STANDIN_DIR = temp.path;
  const store = AgentStore.open(join(temp.path, 'state'));
  const slots = new SlotDirectory(join(temp.path, 'slots'));
  await slots.init();
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  try {
    addReadinessResource(server, {
      nodeId: 'n1', dataDir: temp.path, reservedBytes, adapter: adapterOf(temp.path), slots, store, installedVersion: () => '1.0.0',
    });
    const peer = { address: '127.0.0.1', port: server.address().port };
    await run({
      get: (query = [], accept) => client.request({ peer, path: '/update-readiness', query, ...(accept === undefined ? {} : { accept }) }),
      device: temp.path, data: temp.path,
    });
  } finally {
    await Promise.all([client.close(), server.close()]);
    await store.close();
    process.env.PATH = saved.PATH;
    if (saved.dir === undefined) delete process.env.COAP_FLEET_STANDIN_DIR;
    else process.env.COAP_FLEET_STANDIN_DIR = saved.dir;
    await temp.remove();
  }
}

const raucState = (otherStatus: string) => ({
  compatible: 'coap-fleet stand-in', booted: 'rootfs.0', primary: 'rootfs.0',
  slots: { 'rootfs.0': { bootname: 'A', boot_status: 'good' }, 'rootfs.1': { bootname: 'B', boot_status: otherStatus } },
});

const viewOf = (response: CoapResponse): ReadinessView => {
  assert.is(describeCode(response.code), describeCode(ResponseCode.Content), response.payload.toString('utf8'));
  return JSON.parse(response.payload.toString('utf8')) as ReadinessView;
};

test('GET /update-readiness?size=N on a RAUC device: statfs of the data directory, rauc status, the other slot marked bad; CBOR alike; Max-Age 0', async () => {
  await withResource((): InstallAdapter => raucAdapter(10_000), 0, async ({ get, device, data }) => {
    await writeFile(join(device, 'rauc.json'), JSON.stringify(raucState('good')));
    const healthy = viewOf(await get(['size=4096']));
    assert.is(healthy.install_system, 'rauc');
    assert.is(healthy.version, '1.0.0');
    assert.equal(healthy.slots.system, {
      booted: 'rootfs.0', other: 'rootfs.1', details: { primary: 'rootfs.0', booted_status: 'good', other_status: 'good' }, problems: [],
    });
    const { bavail, bsize } = await statfs(data);
    // Another process may write meanwhile: the figure is statfs's, within a few MiB.
    assert.ok(Math.abs(healthy.space.free_bytes - bavail * bsize) < 64 * 1024 * 1024, `${healthy.space.free_bytes} vs ${bavail * bsize}`);
    assert.is(healthy.space.needed_bytes, 8192);
    assert.equal(healthy.problems, []);

    await writeFile(join(device, 'rauc.json'), JSON.stringify(raucState('bad')));
    const response = await get(['size=4096'], ContentFormat.Cbor);
    assert.is(getUintOption(response.options, OptionNumber.MaxAge), 0);
    const bad = decodeCbor(response.payload) as unknown as ReadinessView;
    assert.equal(bad.problems, [{ kind: 'slot', message: 'the other slot rootfs.1 is marked bad (its last install or boot failed)' }]);

    for (const query of [['size=0'], ['size=12abc'], ['bytes=1'], ['size=1', 'size=2']]) {
      const refused = await get(query);
      assert.is(describeCode(refused.code), describeCode(ResponseCode.BadRequest), query.join('&'));
    }
  });
});

test('a reserve larger than the free space leaves no room for any image', async () => {
  await withResource((): InstallAdapter => raucAdapter(10_000), 1024 * 1024 * 1024 * 1024 * 1024, async ({ get, device }) => {
    await writeFile(join(device, 'rauc.json'), JSON.stringify(raucState('good')));
    const view = viewOf(await get(['size=1']));
    assert.is(view.space.usable_bytes, 0);
    assert.equal(view.problems.map((problem) => problem.kind), ['space']);
    assert.match(view.problems[0]!.message, /^not enough space: an image of 1 bytes needs 2 \(download and slot copy\), 0 usable/);
  });
});

test('on a SWUpdate device the boot variables: an armed boot counting outside an install is a slot problem', async () => {
  const adapter = (): InstallAdapter => swupdateAdapter({ softwareSet: 'stable', bootVariable: 'boot_copy', timeoutMs: 10_000 });
  await withResource(adapter, 0, async ({ get, device }) => {
    await writeFile(join(device, 'uboot-env.json'), JSON.stringify({ boot_copy: 'copy2', upgrade_available: '0' }));
    const settled = viewOf(await get());
    assert.equal(settled.slots.system, { booted: 'copy2', other: 'copy1', details: { boot_copy: 'copy2', upgrade_available: '0' }, problems: [] });
    assert.is(settled.space.image_bytes, null);
    await writeFile(join(device, 'uboot-env.json'), JSON.stringify({ boot_copy: 'copy2', upgrade_available: '1' }));
    assert.equal(viewOf(await get()).problems, [
      { kind: 'slot', message: 'boot counting is armed (upgrade_available=1): the last install is not committed' },
    ]);
  });
});

test.run();
