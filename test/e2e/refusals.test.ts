// What an agent refuses before it downloads a byte (DESIGN §6), with the real gateway and
// agent processes: a manifest signed by another key than the pinned publisher's, an update
// whose signed targets leave the node out, and an older version than the installed one
// (anti-rollback). Each is reported `failed` with a "refused" reason where the node sees
// it, and no download ever starts. The gateway here does not pin the publisher key, so it
// passes the foreign signature on as a misconfigured or compromised one would.

import { generateKeyPairSync } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_POLICY, signManifest } from '../../src/fleet/manifest.js';
import { fileBody } from '../../src/protocol/body.js';
import { codeClass, Method } from '../../src/protocol/codes.js';
import { withFleet, type Fleet } from '../helpers/fleet.js';

const IMAGE_SIZE = 64 * 1024;

/** No transition into `downloading` for this update in the agent's log (it logs every
 * one), no download progress in its state, nothing in its downloads directory. */
async function assertNothingDownloaded(fleet: Fleet, nodeId: string, updateId: string): Promise<void> {
  const moves = fleet.agent(nodeId).entries().filter((entry) => entry.update_id === updateId && entry.from !== undefined).map((entry) => entry.msg);
  assert.not.ok(moves.some((move) => String(move).endsWith('-> downloading')), `${nodeId} started downloading ${updateId}: ${JSON.stringify(moves)}`);
  const record = (await fleet.agentState(nodeId)).updates.find((update) => update.updateId === updateId);
  if (record !== undefined) {
    assert.is(record.download, null);
    assert.is(record.progress, 0);
  }
  assert.equal(await fleet.downloads(nodeId), [], `${nodeId}: downloads/ is empty`);
  assert.is((await fleet.currentSlot(nodeId)).slot, null, `${nodeId}: no slot was installed`);
}

test('refused before download: a foreign signature, another node\'s update, an older version; each reported failed with a "refused" reason, nothing downloaded', async () => {
  await withFleet({ name: 'refusals', nodeIds: ['node-1', 'node-2', 'node-3'] }, async (fleet) => {
    await fleet.startGateway({ publisherKey: false });
    await fleet.startAgent('node-1');
    await fleet.startAgent('node-2');
    await fleet.startAgent('node-3', { config: { initial_version: '3.0.0' } });
    await fleet.waitForNodes(['node-1', 'node-2', 'node-3'], 30_000);
    const operator = await fleet.operator();

    // Signed by a key the agents do not pin, POSTed and uploaded by hand.
    const rogueImage = await fleet.image('rogue.bin', IMAGE_SIZE);
    const rogue = signManifest({
      update_id: 'fw-rogue', version: '2.0.0', size: rogueImage.size, checksum: `sha256:${rogueImage.sha256}`,
      target_nodes: ['node-1'], policy: DEFAULT_POLICY,
    }, generateKeyPairSync('ed25519').privateKey);
    await operator.json(Method.POST, '/updates', rogue);
    const uploaded = await operator.endpoint.upload({
      uri: `${operator.base}/updates/fw-rogue/download`, method: Method.PUT, source: fileBody(rogueImage.path, rogueImage.size), timeoutMs: 30_000,
    });
    assert.is(codeClass(uploaded.code), 2, 'the image is on the gateway, ready to be served');

    // Properly signed, for node-2 alone: node-1 and node-3 are not among its targets.
    const otherImage = await fleet.image('other.bin', IMAGE_SIZE);
    await fleet.publish({ image: otherImage, version: '2.0.0', updateId: 'fw-other', targets: ['node-2'] });
    // Properly signed and for node-3, but older than the 3.0.0 it runs.
    const olderImage = await fleet.image('older.bin', IMAGE_SIZE);
    await fleet.publish({ image: olderImage, version: '2.0.0', updateId: 'fw-older', targets: ['node-3'] });

    const rogueStatus = await fleet.waitForStatus('fw-rogue', 'node-1 failed', (view) => view.nodes['node-1']?.state === 'failed', 60_000);
    assert.is(rogueStatus.nodes['node-1']!.error, 'refused: bad signature');
    const olderStatus = await fleet.waitForStatus('fw-older', 'node-3 failed', (view) => view.nodes['node-3']?.state === 'failed', 60_000);
    assert.is(olderStatus.nodes['node-3']!.error, 'refused: version 2.0.0 is not newer than the installed 3.0.0');
    // The properly signed update for node-2 goes through: the refusals are not a fleet
    // that cannot download at all.
    const other = await fleet.watch('fw-other', 60_000);
    assert.is(other.nodes['node-2']!.state, 'installed');
    assert.is((await fleet.currentSlot('node-2')).sha256, otherImage.sha256);
    // node-1 and node-3 are not targets of fw-other: the gateway has no entry for them and
    // never lists it to them, so they never take it up.
    assert.equal(Object.keys(other.nodes), ['node-2']);

    // The refused ones went straight from pending to failed.
    for (const [nodeId, updateId] of [['node-1', 'fw-rogue'], ['node-3', 'fw-older']] as const) {
      const moves = fleet.agent(nodeId).entries().filter((entry) => entry.update_id === updateId && entry.from !== undefined).map((entry) => entry.msg);
      assert.equal(moves, ['pending -> failed'], `${nodeId} ${updateId}`);
    }
    for (const [nodeId, updateId] of [['node-1', 'fw-rogue'], ['node-3', 'fw-older'], ['node-1', 'fw-other'], ['node-3', 'fw-other']] as const) {
      await assertNothingDownloaded(fleet, nodeId, updateId);
    }
    for (const nodeId of ['node-1', 'node-3']) {
      const state = await fleet.agentState(nodeId);
      assert.not.ok(state.updates.some((update) => update.updateId === 'fw-other'), `${nodeId} never saw fw-other`);
    }
    // Each refusal is persisted as failed and its report acknowledged by the gateway.
    assert.is((await fleet.agentState('node-1')).reported['fw-rogue'], 'failed');
    assert.is((await fleet.agentState('node-3')).reported['fw-older'], 'failed');
    const nodes = await fleet.nodes();
    assert.is(nodes.find((node) => node.node_id === 'node-1')!.version, '1.0.0');
    assert.is(nodes.find((node) => node.node_id === 'node-3')!.version, '3.0.0');
    assert.equal(fleet.unexpectedLines([]), []);
  });
});

test.run();
