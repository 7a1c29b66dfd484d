// After a gateway kill -9 and a restart on the same data directory and port, every agent
// is registered again within seconds (it finds its DTLS session dead after the first
// unanswered retransmissions, not the whole span), and an update published at once reaches
// every agent through its renewed /updates observation, whose Observe numbers start afresh
// (RFC 7641 §3.4 orders notifications within one registration only).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withFleet, type Daemon, type LogEntry } from '../helpers/fleet.js';

const NODES = ['node-1', 'node-2', 'node-3'];
/** An agent finds its session dead after two unanswered retransmissions of a health
 * notification (health every 2 s here; retransmissions after 2–3 s and 4–6 s more, RFC 7252
 * §4.8), handshakes anew and registers: issue 12 asks for 10 s from the restart. */
// Issue 12's target, 10 s, is the bound: measured 0.6–3.2 s after the restart on a
// 2-core machine at load 5–10 (it was 67–159 s before the liveness probe); the figures are
// printed. With the health period of this harness (2 s) an agent's next CON comes soon;
// an idle agent at the shipped health_interval_s (10 s) may take up to that period more.
const REGISTERED_AGAIN_MS = 10_000;
/** The agents observe /updates again as soon as they are back, so the update reaches them
 * within seconds; the bound leaves room for a slow machine. */
const PICKUP_BOUND_MS = 60_000;

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

    const killedAt = Date.now();
    await fleet.killGateway();
    await fleet.restartGateway();
    // Every agent registered again within the bound of the restart, read from the gateway's own
    // records: each agent's CON health notification goes unanswered, its second
    // retransmission finds the session dead and handshakes anew (transport-dtls.ts), and
    // the agent registers as its session ended.
    const restartedAt = Date.now();
    const back = await fleet.waitForRegistrationsSince(NODES, restartedAt, REGISTERED_AGAIN_MS);
    console.log(`restart ${restartedAt - killedAt} ms after the kill; agents back after ${NODES.map((id) => `${id} ${back.get(id)} ms`).join(', ')}`);
    const second = await fleet.image('fw-3.0.0.bin', 16 * 1024);
    await fleet.publish({ image: second, version: '3.0.0', updateId: 'fw-3.0.0', targets: NODES });
    const published = Date.now();
    await fleet.until('every agent accepted fw-3.0.0', () => (NODES.every((id) => accepted(fleet.agent(id), 'fw-3.0.0')) ? true : undefined), PICKUP_BOUND_MS, 1000);
    console.log(`every agent heard of the update ${Math.round((Date.now() - published) / 1000)} s after it was published`);
    const final = await fleet.watch('fw-3.0.0', 180_000);
    assert.is(final.rollout, 'completed');
    // The agents' DTLS sessions died with the gateway: an exchange in flight goes
    // unanswered until the agent finds out, so a registration may still time out and the
    // restarted gateway may call a node offline meanwhile.
    const timedOut = (entry: LogEntry): boolean => entry.msg === 'registration failed; trying again'
      && ['COAP_ERR_RETRANSMIT_TIMEOUT', 'COAP_ERR_TIMEOUT'].includes(String((entry.err as { code?: unknown } | undefined)?.code));
    assert.equal(fleet.unexpectedLines([/^node offline$/, timedOut]), []);
  });
});

test.run();
