// kill -9 of an agent process mid-download, against the real gateway over DTLS: the
// restarted agent resumes from the offset it had persisted (read from its LMDB after the
// kill), which the gateway's side confirms: the progress it is told after the restart never
// goes below that offset, and the datagrams it sends the node are about the blocks that
// were missing, not the whole image again.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PERSIST_EVERY_BYTES } from '../../src/agent/downloader.js';
import { DEFAULT_CHUNK_SIZE } from '../../src/fleet/manifest.js';
import type { NodeUpdateStatus } from '../../src/fleet/update-state.js';
import { withFleet } from '../helpers/fleet.js';

const IMAGE_SIZE = 1024 * 1024;
const BLOCK = 1024;
const NODE = 'node-1';
const UPDATE = 'fw-2.0.0';
/** Datagrams to the node after the restart that are not blocks: the DTLS handshake,
 * registration, the /updates observation, health, status and install answers. */
const OTHER_DATAGRAMS = 120;

test('kill -9 mid-download: the restarted agent resumes from its persisted offset (LMDB), the gateway sees no block before it again, and the node installs', async () => {
  await withFleet({ name: 'agent-kill', nodeIds: [NODE] }, async (fleet) => {
    await fleet.startGateway();
    // 4 ms each way on every datagram: lock-step Block2 then takes ~10 s for 1 MiB, a
    // download slow enough to be caught in the middle.
    const { proxy, uri } = await fleet.proxy({ delayMs: 4 }, 1);
    await fleet.startAgent(NODE, { gateway: uri });
    await fleet.waitForNodes([NODE], 30_000);
    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
    await fleet.publish({ image, version: '2.0.0', updateId: UPDATE, targets: [NODE] });

    const told = await fleet.waitForStatus(UPDATE, `${NODE} reported 30 % downloaded`, (view) => {
      const status = view.nodes[NODE];
      return status?.state === 'downloading' && status.progress >= 0.3;
    }, 120_000);
    await fleet.agent(NODE).kill();

    const state = await fleet.agentState(NODE);
    const record = state.updates.find((update) => update.updateId === UPDATE);
    assert.ok(record !== undefined, 'the update is in the agent\'s state');
    assert.is(record.state, 'downloading');
    assert.ok(record.download !== null, 'download progress persisted');
    const persisted = record.download.verified;
    const reported = told.nodes[NODE]!.progress * IMAGE_SIZE;
    // Progress goes to the gateway as blocks arrive, the offset to LMDB every
    // PERSIST_EVERY_BYTES after an fsync: the offset trails what the gateway was told by at
    // most that much (and the kill came after the report).
    assert.ok(persisted >= reported - PERSIST_EVERY_BYTES - BLOCK, `persisted ${persisted}, the gateway was told ${reported}`);
    // Format 2 (publish's default): only verified chunks count as persisted.
    assert.ok(persisted < IMAGE_SIZE && persisted % DEFAULT_CHUNK_SIZE === 0, `persisted ${persisted}: a whole number of chunks`);
    assert.ok(persisted / BLOCK > OTHER_DATAGRAMS, `persisted ${persisted}: enough to tell a resume from a restart`);
    assert.ok((await fleet.downloads(NODE)).includes(`${UPDATE}.part`));

    const progressSeen: NodeUpdateStatus[] = [];
    const atRestart = proxy.stats().toClient.forwarded;
    const watching = fleet.watch(UPDATE, 120_000, (view) => { progressSeen.push(view.nodes[NODE]!); });
    await fleet.restartAgent(NODE);
    const final = await watching;
    const datagramsToNode = proxy.stats().toClient.forwarded - atRestart;

    assert.is(final.nodes[NODE]!.state, 'installed', JSON.stringify(final.nodes[NODE]));
    const current = await fleet.currentSlot(NODE);
    assert.is(current.sha256, image.sha256, 'the resumed download is the image, byte for byte');
    // The gateway's side: every progress it was told after the restart starts at the
    // persisted offset or beyond (the first view is the one from before the kill)…
    const afterRestart = progressSeen.slice(1).filter((status) => status.state === 'downloading');
    for (const status of afterRestart) assert.ok(status.progress * IMAGE_SIZE >= persisted, `told ${status.progress} after the restart, persisted ${persisted}`);
    // …and what it sent the node is the missing blocks and the protocol's other messages,
    // not the image again from zero. The restarted agent checks the partial file chunk by
    // chunk and may find more verified than LMDB said (the kill fell between a chunk's
    // write and the offset's fsync): it resumes from there.
    const reverified = fleet.agent(NODE).entries().find((entry) => entry.msg === 'partial image verified again chunk by chunk')?.verified;
    const resumedAt = typeof reverified === 'number' ? reverified : persisted;
    assert.ok(resumedAt >= persisted && resumedAt <= persisted + PERSIST_EVERY_BYTES + DEFAULT_CHUNK_SIZE, `resumed at ${resumedAt}, persisted ${persisted}`);
    const missingBlocks = (IMAGE_SIZE - persisted) / BLOCK;
    assert.ok(datagramsToNode <= missingBlocks + OTHER_DATAGRAMS, `${datagramsToNode} datagrams for ${missingBlocks} missing blocks`);
    assert.ok(datagramsToNode >= (IMAGE_SIZE - resumedAt) / BLOCK, `${datagramsToNode} datagrams for the ${(IMAGE_SIZE - resumedAt) / BLOCK} blocks after ${resumedAt}`);
    console.log(`agent kill -9: persisted ${persisted} of ${IMAGE_SIZE} bytes (gateway told ${reported.toFixed(0)}); after the restart ${datagramsToNode} datagrams to the node for ${missingBlocks} missing blocks`);
    assert.equal(fleet.unexpectedLines([]), []);
  });
});

test.run();
