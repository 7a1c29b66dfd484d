// The agent's watch on /updates on a virtual clock, with our real client and server
// endpoints over the in-memory link: a gateway that declines the Observe registration
// (RFC 7641 §4.1) gets a few registration attempts with growing, jittered gaps (not one a
// second), offers still arrive by plain GETs meanwhile, and once the gateway accepts, the
// agent is registered and hears of updates by notification.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DECLINED_BASE_MS, DECLINED_CAP_MS, POLL_WHILE_DECLINED_MS, UpdatesWatch } from '../../../src/agent/updates-watch.js';
import { JitteredBackoff } from '../../../src/agent/backoff.js';
import { GatewayLink } from '../../../src/agent/gateway-link.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { drive } from '../../helpers/virtual-world.js';
import { unexpectedWarnings } from './agent-harness.js';
import { declineObservers } from './declining-updates.js';

const MINUTE = 60_000;

test('jittered backoff: every delay within [base, cap], growing on the whole, short again after a reset', () => {
  const backoff = new JitteredBackoff(5000, 300_000, new SeededRandom(1));
  const delays = Array.from({ length: 40 }, () => backoff.next());
  assert.ok(delays.every((delay) => delay >= 5000 && delay <= 300_000), delays.join());
  const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  assert.ok(mean(delays.slice(20)) > 4 * mean(delays.slice(0, 3)), delays.join());
  assert.is(backoff.attempts, 40);
  backoff.reset();
  assert.is(backoff.attempts, 0);
  assert.ok(backoff.next() <= 15_000, 'the first delay after a reset is at most 3 × base');
});

test('a gateway that declines the /updates registration: few attempts with growing gaps, offers by plain GETs meanwhile; registered once it accepts', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(1) });
  const client = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(2) });
  const gateway = declineObservers(server, () => clock.now(), [{ update_id: 'u1' }]);
  const logs: Record<string, unknown>[] = [];
  const log = createDaemonLogger({
    level: 'debug', pretty: false, stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } },
  });
  const seen: { at: number; ids: string[] }[] = [];
  let registers = 0;
  const stop = new AbortController();
  const watch = new UpdatesWatch({
    gateway: new GatewayLink(client, `coap://127.0.0.1:${server.address().port}`, 'n1', () => {}),
    register: () => {
      registers++;
      return Promise.resolve(true);
    },
    onUpdates: (response) => {
      const body = JSON.parse(response.payload.toString('utf8')) as { updates: { update_id: string }[] };
      seen.push({ at: clock.now(), ids: body.updates.map((update) => update.update_id) });
    },
    log, stop: stop.signal, clock, random: new SeededRandom(7),
  });
  const running = watch.run();
  try {
    // 30 minutes declined: the old loop tried about once a second (~1800 times).
    await drive(clock, () => false, 30 * MINUTE);
    const attempts = gateway.registrations;
    assert.ok(attempts.length >= 5 && attempts.length <= 30, `${attempts.length} registration attempts in 30 min`);
    assert.is(registers, attempts.length, 'one node registration before each');
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
    assert.ok(gaps.every((gap) => gap >= DECLINED_BASE_MS && gap <= DECLINED_CAP_MS + 1000), gaps.join());
    const third = Math.floor(gaps.length / 3);
    const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
    assert.ok(mean(gaps.slice(-third)) > 3 * mean(gaps.slice(0, third)), `gaps grow: ${gaps.join()}`);
    // Meanwhile plain GETs, about one per poll interval, never one a second.
    assert.ok(gateway.plainGets.length >= 10 && gateway.plainGets.length <= 30, `${gateway.plainGets.length} plain GETs`);
    assert.equal(seen[0]?.ids, ['u1'], 'the declined registration\'s answer is a representation too');

    // A new offer while declined arrives within a poll interval (or a registration attempt).
    const published = clock.now();
    gateway.publish([{ update_id: 'u1' }, { update_id: 'u2' }]);
    await drive(clock, () => seen.some((entry) => entry.ids.includes('u2')), POLL_WHILE_DECLINED_MS + 1000);
    const arrived = seen.find((entry) => entry.ids.includes('u2'));
    assert.ok(arrived !== undefined && arrived.at - published <= POLL_WHILE_DECLINED_MS + 1000, 'u2 seen within a poll interval');

    // The gateway accepts: the next attempt (within the cap) registers, and notifications flow.
    gateway.accept();
    const before = gateway.registrations.length;
    await drive(clock, () => gateway.registrations.length > before, DECLINED_CAP_MS + 1000);
    assert.is(gateway.registrations.length, before + 1, 'registered at the next attempt');
    const registeredAt = gateway.registrations.at(-1)!;
    gateway.publish([{ update_id: 'u3' }]);
    await drive(clock, () => seen.some((entry) => entry.ids.includes('u3')), 1000);
    assert.ok(seen.some((entry) => entry.ids.includes('u3')), 'u3 notified');
    // Registered: no more attempts nor polls; only the renewals after Max-Age (3600 s here,
    // RFC 7641 §3.3.1) register again.
    await drive(clock, () => false, 30 * MINUTE);
    assert.ok(gateway.registrations.every((at) => at <= registeredAt || at - registeredAt >= 3600_000), gateway.registrations.join());
    assert.equal(gateway.plainGets.filter((at) => at > registeredAt), []);
    assert.ok(logs.some((entry) => entry.msg === 'the gateway registered this observer of /updates again'));
    const declinedWarnings = logs.filter((entry) => entry.level === 'warn');
    assert.is(declinedWarnings.length, 1, 'one warning for the whole run of refusals');
    assert.equal(unexpectedWarnings(logs, [/the gateway declined to register this observer of \/updates/]), []);
  } finally {
    stop.abort();
    await drive(clock, () => false, 1000);
    await running;
    await client.close();
    await server.close();
  }
});

test.run();
