// An image altered on the gateway's disk after its upload (the gateway is not trusted
// with integrity, DESIGN §6): the agent reports `failed` and keeps running the version it
// had. Under a format 1 manifest it finds the whole image's sha256 wrong once downloaded;
// under format 2 (chunk hashes) at the first bad chunk, fetched again a few times (that
// nothing after it is fetched is agent-chunked-download.test.ts's to count).

import { open } from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_CHUNK_REFETCHES } from '../../src/agent/downloader.js';
import { DEFAULT_CHUNK_SIZE } from '../../src/fleet/manifest.js';
import { withFleet, type Fleet, type Image } from '../helpers/fleet.js';

const NODE = 'node-1';
const IMAGE_SIZE = 256 * 1024;

/** The factory image in slot a, then the update published and altered on the gateway's
 * disk: same size, 16 bytes flipped in the middle (chunk 2 of 4), so only hashes can tell. */
async function publishTampered(fleet: Fleet, manifestVersion: 1 | 2): Promise<Image> {
  const factory = await fleet.image('factory.bin', IMAGE_SIZE);
  await fleet.seedSlot(NODE, factory, '1.0.0');
  await fleet.startGateway();
  const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
  await fleet.publish({ image, version: '2.0.0', targets: [NODE], manifestVersion });
  const stored = await open(fleet.imagePathOnGateway(image.sha256), 'r+');
  try {
    const bytes = Buffer.alloc(16);
    await stored.read(bytes, 0, 16, IMAGE_SIZE / 2);
    await stored.write(bytes.map((byte) => byte ^ 0xff), 0, 16, IMAGE_SIZE / 2);
  } finally {
    await stored.close();
  }
  return factory;
}

/** Failed, nothing installed, the factory slot runs on, the outcome acknowledged. */
async function assertKeptFactory(fleet: Fleet, factory: Image, expectedError: string): Promise<void> {
  const view = await fleet.waitForStatus('fw-2.0.0', `${NODE} failed`, (status) => status.nodes[NODE]?.state === 'failed', 60_000);
  assert.is(view.nodes[NODE]!.error, expectedError);
  assert.is(view.rollout, 'aborted');
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
}

test('format 1: an image altered on the gateway\'s disk is downloaded in full, its sha256 mismatch found, failed; the old slot and version kept', async () => {
  await withFleet({ name: 'tampered-v1', nodeIds: [NODE] }, async (fleet) => {
    const factory = await publishTampered(fleet, 1);
    await fleet.startAgent(NODE);
    await assertKeptFactory(fleet, factory, 'sha256 mismatch');
    assert.equal(fleet.unexpectedLines([]), []);
  });
});

test(`format 2: the altered chunk is caught when it completes, fetched again ${MAX_CHUNK_REFETCHES} times, then "chunk 2: sha256 mismatch"`, async () => {
  await withFleet({ name: 'tampered-v2', nodeIds: [NODE] }, async (fleet) => {
    const factory = await publishTampered(fleet, 2);
    await fleet.startAgent(NODE);
    await assertKeptFactory(fleet, factory, 'chunk 2: sha256 mismatch');
    const bad = 2;
    const refetches = fleet.agent(NODE).entries().filter((entry) => entry.msg === 'chunk failed its sha256: fetching it again');
    assert.equal(refetches.map((entry) => [entry.chunk, entry.offset]), Array.from({ length: MAX_CHUNK_REFETCHES }, () => [bad, bad * DEFAULT_CHUNK_SIZE]));
    assert.equal(fleet.unexpectedLines([/chunk failed its sha256/]), []);
  });
});

test.run();
