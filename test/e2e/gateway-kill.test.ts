// kill -9 of the gateway process mid-rollout: restarted on the same data directory and the
// same DTLS port, it still has every registration and every status it had acknowledged,
// the agents find it again (new DTLS sessions, registration, /updates observation), and
// the rollout goes on to completion.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTerminal, type NodeUpdateState } from '../../src/fleet/update-state.js';
import { withFleet } from '../helpers/fleet.js';

const NODES = ['node-1', 'node-2', 'node-3', 'node-4'];
const UPDATE = 'fw-2.0.0';
const IMAGE_SIZE = 512 * 1024;
/** An agent finds its dead session after two unanswered retransmissions of a CON. */
// Issue 12's target, 10 s, is the bound: measured 0.6–3.2 s after the restart on a
// 2-core machine at load 5–10 (it was 67–159 s before the liveness probe); the figures are
// printed. With the health period of this harness (2 s) an agent's next CON comes soon;
// an idle agent at the shipped health_interval_s (10 s) may take up to that period more.
const REGISTERED_AGAIN_MS = 10_000;

const RANK: Readonly<Record<NodeUpdateState, number>> = {
  pending: 0, downloading: 1, downloaded: 2, installing: 3, installed: 4, failed: 4, rolled_back: 4,
};

test('kill -9 of the gateway mid-rollout: after a restart on the same data and port no acknowledged registration or status is lost and the rollout completes', async () => {
  await withFleet({ name: 'gateway-kill', nodeIds: NODES }, async (fleet) => {
    await fleet.startGateway();
    // A health check of a second: installs, one at a time, take long enough for the kill
    // to land between the first and the last.
    for (const id of NODES) await fleet.startAgent(id, { config: { health_check_command: 'sleep 1' } });
    await fleet.waitForNodes(NODES, 30_000);
    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
    await fleet.publish({ image, version: '2.0.0', updateId: UPDATE, targets: NODES, policy: { max_parallel_installs: 1, canary: 1, failure_threshold: 1 } });

    const before = await fleet.until('one node installed while the rollout is still active', async () => {
      const view = await fleet.status(UPDATE);
      return view.counts.installed >= 1 && view.rollout === 'active' ? view : undefined;
    }, 120_000, 100);
    const nodesBefore = await fleet.nodes();
    const port = fleet.coapsPort;
    const killedAt = Date.now();
    await fleet.killGateway();
    const killed = await fleet.gateway!.exited;
    assert.is(killed.signal, 'SIGKILL');

    await fleet.restartGateway();
    const restartedAt = Date.now();
    assert.is(fleet.coapsPort, port, 'the same DTLS port');
    // Read at once, before any agent has had the time to report again.
    const nodesAfter = await fleet.nodes();
    const statusAfter = await fleet.status(UPDATE);
    for (const node of nodesBefore) {
      const after = nodesAfter.find((candidate) => candidate.node_id === node.node_id);
      assert.ok(after !== undefined, `${node.node_id} still registered`);
      assert.is(after.registered_at, node.registered_at);
      assert.ok(after.last_seen >= node.last_seen, `${node.node_id} last seen ${after.last_seen} < ${node.last_seen}`);
    }
    for (const id of NODES) {
      const was = before.nodes[id]!;
      const now = statusAfter.nodes[id]!;
      if (isTerminal(was.state)) assert.equal({ state: now.state, error: now.error }, { state: was.state, error: was.error }, id);
      else assert.ok(RANK[now.state] >= RANK[was.state], `${id}: ${was.state} before the kill, ${now.state} after the restart`);
    }
    // Every agent registered again within the bound of the restart (issue 12), mid-rollout.
    const back = await fleet.waitForRegistrationsSince(NODES, restartedAt, REGISTERED_AGAIN_MS);
    console.log(`restart ${restartedAt - killedAt} ms after the kill; agents back after ${NODES.map((id) => `${id} ${back.get(id)} ms`).join(', ')}`);
    const [listening] = fleet.gateway!.entries().filter((entry) => entry.msg === 'gateway listening');
    assert.equal({ nodes: listening?.nodes, updates: listening?.updates }, { nodes: NODES.length, updates: 1 }, 'what the restarted gateway found in its store');

    const final = await fleet.watch(UPDATE, 180_000);
    assert.is(final.rollout, 'completed');
    for (const id of NODES) {
      assert.is(final.nodes[id]!.state, 'installed', `${id}: ${JSON.stringify(final.nodes[id])}`);
      assert.is((await fleet.currentSlot(id)).sha256, image.sha256, id);
    }
    await fleet.waitForNodes(NODES, 60_000, '2.0.0');
    console.log(`gateway kill -9 with ${JSON.stringify(before.counts)}; after the restart ${JSON.stringify(statusAfter.counts)}; completed`);
    // The agents' DTLS sessions died with the gateway: each finds out when a CON (its
    // health notification, a block request…) has gone unanswered through two
    // retransmissions (transport-dtls.ts), some seconds in which the restarted gateway may
    // call a node offline; and an install request in flight may still fail, and is asked
    // again over the new session.
    assert.equal(fleet.unexpectedLines([/^node offline$/, /^install request failed$/]), []);
  });
});

test.run();
