// `coap-fleet publish --dry-run` with real processes (issue 13): a gateway and three agents
// over DTLS — one whose reserve (reserved_space_mb) is larger than its disk's free space,
// one on a RAUC stand-in device (test/helpers/stand-in-device.ts) whose other slot is marked
// bad, one fine. The dry run, with the rollout plan's flags, reports exactly the first two
// with their reasons and exits 5; nothing is sent: the gateway's /updates list is unchanged
// and it stores no image. A node may not read another node's readiness, nor its own
// through the gateway (4.03, like the other forwarded paths). An update id already taken
// and a node never registered fail the dry run too.

import { readdir, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ReadinessView } from '../../src/fleet/update-readiness.js';
import { Method, ResponseCode, describeCode } from '../../src/protocol/codes.js';
import type { DryRunReport } from '../../src/operator/dry-run.js';
import { runCli } from '../helpers/cli.js';
import { request, withFleet, type Fleet } from '../helpers/fleet.js';
import { StandInDevice } from '../helpers/stand-in-device.js';

const FULL = 'full-node';
const BAD_SLOT = 'bad-slot-node';
const FINE = 'fine-node';
const NODES = [FULL, BAD_SLOT, FINE];
/** Has credentials, never runs. */
const GHOST = 'ghost-node';
const MIB = 1024 * 1024;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);

const cli = (fleet: Fleet, args: readonly string[]) =>
  runCli([...args, '--gateway', fleet.gatewayUri, '--credentials', fleet.operatorCredentials], { killAfterMs: 60_000 });

/** What the gateway has of updates: its list and the images it stores. */
async function sent(fleet: Fleet): Promise<{ updates: unknown; images: string[] }> {
  const updates = await (await fleet.operator()).json<{ updates: unknown[] }>(Method.GET, '/updates');
  const images = await readdir(join(fleet.gatewayDataDir, 'images')).catch(() => []);
  return { updates, images: images.filter((name) => /^[0-9a-f]{64}$/.test(name)) };
}

test('publish --dry-run names the node without room and the node with a bad slot, passes the fine one, and sends nothing', async () => {
  await withFleet({ name: 'dry-run', nodeIds: [...NODES, GHOST] }, async (fleet) => {
    const device = await StandInDevice.create(fleet, BAD_SLOT, 'rauc');
    try {
      await fleet.startGateway();
      const { bavail, bsize } = await statfs(fleet.dir);
      const reserveMb = Math.ceil((bavail * bsize) / MIB) + 1024;
      await fleet.startAgent(FULL, { config: { reserved_space_mb: reserveMb, tags: ['site-a'] } });
      const state = device.rauc();
      await writeFile(join(device.dir, 'rauc.json'), JSON.stringify({
        ...state, slots: { ...state.slots, 'rootfs.1': { ...state.slots['rootfs.1']!, boot_status: 'bad' } },
      }));
      await device.start({ tags: ['site-a'] });
      await fleet.startAgent(FINE, { config: { tags: ['site-a'] } });
      await fleet.waitForNodes(NODES, 30_000);

      const before = await sent(fleet);
      const image = await fleet.image('fw-2.0.0.bin', 256 * 1024);
      // A window that opens in two hours: the nodes would download now and install then.
      const opening = Math.ceil((Date.now() + 2 * HOUR) / MINUTE) * MINUTE;
      const window = `daily ${hhmm(opening)}-${hhmm(opening + HOUR)} UTC`;
      const plan = ['--waves', '1,100%', '--bake', '10s', '--window', window, '--health-gate', 'cpu=50'];
      const common = ['publish', '--dry-run', '--image', image.path, '--version', '2.0.0', '--signing-key', join(fleet.keysDir, 'publisher.key'), ...plan];

      const json = await cli(fleet, [...common, '--tags', 'site-a', '--json']);
      assert.is(json.status, 5, json.stderr);
      const report = JSON.parse(json.stdout) as DryRunReport;
      assert.equal([report.passed, report.failed, report.image_bytes], [1, 2, 256 * 1024]);
      const byNode = new Map(report.nodes.map((node) => [node.node_id, node]));
      assert.equal([...byNode.keys()].sort(), [...NODES].sort());
      assert.is(byNode.get(FINE)!.pass, true, JSON.stringify(byNode.get(FINE)));
      assert.equal(byNode.get(FINE)!.failures, []);
      const full = byNode.get(FULL)!;
      assert.is(full.failures.length, 1, JSON.stringify(full));
      assert.match(full.failures[0]!, new RegExp(`^not enough space: an image of ${256 * 1024} bytes needs ${512 * 1024} \\(download and slot copy\\), 0 usable`));
      assert.is(full.usable_bytes, 0);
      assert.equal(byNode.get(BAD_SLOT)!.failures, ['the other slot rootfs.1 is marked bad (its last install or boot failed)']);
      assert.is(byNode.get(BAD_SLOT)!.install_system, 'rauc');
      // --tags resolves to the sorted ids, as a publish signs them: the first is wave 1.
      assert.equal(report.nodes.map((node) => [node.node_id, node.wave]), [[BAD_SLOT, 1], [FINE, 2], [FULL, 2]]);
      assert.ok(report.nodes.every((node) => node.window_opens_at === new Date(opening).toISOString()), JSON.stringify(report.nodes));

      const table = await cli(fleet, [...common, '--targets', NODES.join(',')]);
      assert.is(table.status, 5, table.stderr);
      assert.match(table.stdout, new RegExp(`${FULL}\\s+FAIL\\s+1\\s+1\\.0\\.0\\s+slots\\s+512\\.0 KiB/0 B\\s+\\S+\\s+not enough space`));
      assert.match(table.stdout, new RegExp(`${BAD_SLOT}\\s+FAIL\\s+2\\s+1\\.0\\.0\\s+rauc\\s+.*the other slot rootfs\\.1 is marked bad`));
      assert.match(table.stdout, new RegExp(`${FINE}\\s+pass\\s+2\\s+1\\.0\\.0\\s+slots`));
      assert.match(table.stdout, 'on 3 target(s): 1 would pass, 2 would fail; nothing was signed or uploaded');

      // Without the signing key, on the fine node alone: all would pass.
      const alone = await cli(fleet, ['publish', '--dry-run', '--image', image.path, '--version', '2.0.0', '--targets', FINE]);
      assert.is(alone.status, 0, alone.stderr);
      assert.match(alone.stdout, '1 would pass, 0 would fail');
      // The plan's flags are checked as a real publish checks them.
      const badPlan = await cli(fleet, ['publish', '--dry-run', '--image', image.path, '--version', '2.0.0', '--targets', FINE, '--bake', '10s']);
      assert.is(badPlan.status, 2, badPlan.stdout);
      assert.match(badPlan.stderr, '--bake, --wave-failure-threshold and --health-gate go with --waves');

      // Nothing was created nor uploaded, and the RAUC device was only asked, never changed.
      assert.equal(await sent(fleet), before);
      assert.equal(before.images, []);
      assert.ok(device.calls().every((call) => call === 'rauc status --output-format=json'), device.calls().join('\n'));
      assert.is(device.rauc().slots['rootfs.1']!.boot_status, 'bad');

      // Operators only: a node asks of another node's readiness, and of its own.
      const node = await fleet.asNode(FINE);
      try {
        for (const id of [FULL, FINE]) {
          const denied = await request(node, 'GET', `/nodes/${id}/update-readiness?size=1`);
          assert.is(describeCode(denied.code), describeCode(ResponseCode.Forbidden), id);
        }
      } finally {
        await node.close();
      }
      const readiness = await (await fleet.operator()).json<ReadinessView>(Method.GET, `/nodes/${FINE}/update-readiness?size=1`);
      assert.equal([readiness.node_id, readiness.install_system, readiness.problems], [FINE, 'slots', []]);

      // An update id already taken (its image uploaded) would be refused; a node never
      // registered would fail.
      await fleet.publish({ image, version: '2.0.0', updateId: 'fw-taken', targets: [GHOST] });
      const taken = await cli(fleet, ['publish', '--dry-run', '--image', image.path, '--version', '2.0.0', '--update-id', 'fw-taken', '--targets', `${FINE},${GHOST}`]);
      assert.is(taken.status, 5, taken.stderr);
      assert.match(taken.stdout, 'update fw-taken exists and its image is uploaded: the gateway would refuse the publish (4.09)');
      assert.match(taken.stdout, new RegExp(`${GHOST}\\s+FAIL\\s+-\\s+-\\s+-\\s+-\\s+-\\s+not registered with the gateway`));
      assert.match(taken.stdout, '1 would pass, 1 would fail');
    } finally {
      await device.close();
    }
    assert.equal(fleet.unexpectedLines([/^request denied$/]), []);
  });
});

test.run();
