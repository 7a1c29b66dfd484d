// An image altered on the gateway's disk after its upload (the gateway is not trusted
// with integrity, DESIGN §6): the agent downloads it, finds that its sha256 is not the
// signed one, reports `failed` and keeps running the version it had.

import { open } from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withFleet } from '../helpers/fleet.js';

const NODE = 'node-1';
const IMAGE_SIZE = 256 * 1024;

test('an image altered on the gateway\'s disk: the agent finds the sha256 mismatch, reports failed and keeps the old slot and version', async () => {
  await withFleet({ name: 'tampered', nodeIds: [NODE] }, async (fleet) => {
    const factory = await fleet.image('factory.bin', IMAGE_SIZE);
    await fleet.seedSlot(NODE, factory, '1.0.0');
    await fleet.startGateway();
    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
    await fleet.publish({ image, version: '2.0.0', targets: [NODE] });

    // Same size, 16 bytes flipped in the middle: only the hash can tell.
    const stored = await open(fleet.imagePathOnGateway(image.sha256), 'r+');
    try {
      const bytes = Buffer.alloc(16);
      await stored.read(bytes, 0, 16, IMAGE_SIZE / 2);
      await stored.write(bytes.map((byte) => byte ^ 0xff), 0, 16, IMAGE_SIZE / 2);
    } finally {
      await stored.close();
    }

    await fleet.startAgent(NODE);
    const view = await fleet.waitForStatus('fw-2.0.0', `${NODE} failed`, (status) => status.nodes[NODE]?.state === 'failed', 60_000);
    assert.is(view.nodes[NODE]!.error, 'sha256 mismatch');
    assert.is(view.rollout, 'aborted');

    // Downloaded in full, then thrown away: nothing installed, the factory slot runs on.
    const moves = fleet.agent(NODE).entries().filter((entry) => entry.update_id === 'fw-2.0.0').map((entry) => entry.msg);
    assert.ok(moves.includes('pending -> downloading') && moves.includes('downloading -> failed'), JSON.stringify(moves));
    assert.not.ok(moves.some((msg) => String(msg).includes('installing')), JSON.stringify(moves));
    assert.equal(await fleet.currentSlot(NODE), { slot: 'a', sha256: factory.sha256, version: '1.0.0' });
    assert.equal(await fleet.downloads(NODE), []);
    await fleet.agent(NODE).stop();
    const state = await fleet.agentState(NODE);
    assert.equal(state.slots, { committed: 'a', version: '1.0.0', updateId: null });
    assert.is(state.reported['fw-2.0.0'], 'failed');
    const [node] = await fleet.nodes();
    assert.is(node!.version, '1.0.0');
    assert.equal(fleet.unexpectedLines([]), []);
  });
});

test.run();
