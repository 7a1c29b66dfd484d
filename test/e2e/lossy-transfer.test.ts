// Issue 12's transfer through a bad path: a 1 MiB rollout to five agents, each a real
// process talking DTLS to the real gateway through the fault proxy at 20 % loss of every
// datagram each way: every node installs the image byte for byte, within a bound. The
// duration goes to stdout for the benchmark note.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withFleet } from '../helpers/fleet.js';
import { LOSS_SYMPTOMS, watchThroughLoss } from '../helpers/lossy-rollout.js';

const IMAGE_SIZE = 1024 * 1024;
const SEED = 20_261_207;
// Lock-step Block2 cannot make it: one 1 KiB block in flight at 20 % loss each way got
// 78-196 KiB to each node in 480 s (0.16-0.41 KiB/s, 42-105 minutes for 1 MiB). Q-Block2
// (RFC 9177: a burst of blocks per request, only the missing ones asked again) is what
// this bound is for: with the qblock branch as of ab5e6dd and the adaptive tuner, one run
// completed in 426 s and one had four nodes installed and the fifth at 74 % at the bound
// (the tuner held the window at 1-4 blocks; a fixed window of 10 fetched 1 MiB through
// this loss in 27-41 s in the transfer-lossy benchmark). The bound stays under the test
// runner's 600 s per file with the fleet's start and the installs around it.
const ROLLOUT_TIMEOUT_MS = 480_000;

test('a 1 MiB rollout to 5 agents through 20 % loss each way completes: every node installs the image byte for byte', async () => {
  await withFleet({ name: 'lossy-transfer' }, async (fleet) => {
    await fleet.startGateway();
    const { proxy, uri } = await fleet.proxy({ loss: 0.2 }, SEED);
    // Health reports are spaced out so that they do not crowd the download (NSTART 1,
    // RFC 7252 §4.7, for the CONs of a node).
    for (const id of fleet.nodeIds) await fleet.startAgent(id, { gateway: uri, config: { health_interval_s: 60 } });
    await fleet.waitForNodes(fleet.nodeIds, 120_000);

    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
    const started = Date.now();
    await fleet.publish({ image, version: '2.0.0', targets: fleet.nodeIds, policy: { max_parallel_installs: 5, failure_threshold: 1 } });
    const final = await watchThroughLoss(fleet, 'fw-2.0.0', ROLLOUT_TIMEOUT_MS);
    const seconds = (Date.now() - started) / 1000;

    assert.is(final.rollout, 'completed');
    for (const id of fleet.nodeIds) {
      assert.is(final.nodes[id]?.state, 'installed', `${id}: ${JSON.stringify(final.nodes[id])}`);
      assert.is((await fleet.currentSlot(id)).sha256, image.sha256, `${id}: slots/current/image.bin`);
    }
    const stats = proxy.stats();
    // The loss did happen, in both directions.
    for (const direction of [stats.toTarget, stats.toClient]) assert.ok(direction.dropped > 0, JSON.stringify(stats));
    console.log(`lossy transfer: 5 nodes x ${IMAGE_SIZE / 1024} KiB at 20 % loss each way in ${seconds.toFixed(1)} s: ${JSON.stringify(stats)}`);
    assert.equal(fleet.unexpectedLines(LOSS_SYMPTOMS), []);
  });
});

test.run();
