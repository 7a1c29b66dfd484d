// After a gateway kill -9 and a restart on the same data directory and port, an update
// published at once reaches every agent within a bounded wait: the agents' /updates
// observations are renewed at Max-Age against the restarted gateway, whose Observe
// numbers start afresh (RFC 7641 §3.4 orders notifications within one registration only).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withFleet, type Daemon, type LogEntry } from '../helpers/fleet.js';

const NODES = ['node-1', 'node-2', 'node-3'];
/** Max-Age of /updates (60 s, RFC 7252's default) and the renewal margin, plus the time an
 * agent takes to find its DTLS session dead (an unacknowledged CON: up to 93 s, RFC 7252
 * §4.8.2) and a retry: every agent must have heard of the update by then. */
const PICKUP_BOUND_MS = 240_000;

const accepted = (agent: Daemon, updateId: string): boolean =>
  agent.entries().some((entry) => entry.msg === 'update accepted' && entry.update_id === updateId);

test('an update published right after a gateway kill -9 and restart reaches every agent through its renewed /updates observation', async () => {
  await withFleet({ name: 'gateway-restart-observe', nodeIds: NODES }, async (fleet) => {
    await fleet.startGateway();
    for (const id of NODES) await fleet.startAgent(id);
    await fleet.waitForNodes(NODES, 30_000);
    // A first update, so every agent's observation is known to be in place before the kill.
    const first = await fleet.image('fw-2.0.0.bin', 16 * 1024);
    await fleet.publish({ image: first, version: '2.0.0', updateId: 'fw-2.0.0', targets: NODES });
    await fleet.until('every agent accepted fw-2.0.0', () => (NODES.every((id) => accepted(fleet.agent(id), 'fw-2.0.0')) ? true : undefined), 60_000);
    const done = await fleet.watch('fw-2.0.0', 120_000);
    assert.is(done.rollout, 'completed');

    await fleet.killGateway();
    await fleet.restartGateway();
    const second = await fleet.image('fw-3.0.0.bin', 16 * 1024);
    await fleet.publish({ image: second, version: '3.0.0', updateId: 'fw-3.0.0', targets: NODES });
    const published = Date.now();
    await fleet.until('every agent accepted fw-3.0.0', () => (NODES.every((id) => accepted(fleet.agent(id), 'fw-3.0.0')) ? true : undefined), PICKUP_BOUND_MS, 1000);
    console.log(`every agent heard of the update ${Math.round((Date.now() - published) / 1000)} s after it was published`);
    const final = await fleet.watch('fw-3.0.0', 180_000);
    assert.is(final.rollout, 'completed');
    // The agents' DTLS sessions died with the gateway: their exchanges go unanswered until
    // they find out (RFC 7252 §4.8.2), so a registration may time out and the restarted
    // gateway may call them offline meanwhile.
    const timedOut = (entry: LogEntry): boolean => entry.msg === 'registration failed; trying again'
      && ['COAP_ERR_RETRANSMIT_TIMEOUT', 'COAP_ERR_TIMEOUT'].includes(String((entry.err as { code?: unknown } | undefined)?.code));
    assert.equal(fleet.unexpectedLines([/^node offline$/, timedOut]), []);
  });
});

test.run();
