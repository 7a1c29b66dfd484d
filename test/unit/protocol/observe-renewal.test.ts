// The observe client's renewal (RFC 7641 §3.3.1, §3.4) against a scripted server on the
// virtual clock and the in-memory link: the server answers each registration with the
// sequence number and Max-Age the test chooses, as a restarted server would.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { MessageType } from '../../../src/protocol/message.js';
import { getUintOption, OptionNumber, uintOption } from '../../../src/protocol/options.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { drive } from '../../helpers/virtual-world.js';

interface Answer {
  readonly code?: number;
  /** Omitted: the answer carries no Observe option. */
  readonly sequence?: number;
  readonly maxAge: number;
}

/** A server that answers the n-th registration (GET with Observe = 0) with answers[n],
 * piggybacked, and records when each registration arrived; past the script it stays
 * silent. */
function scriptedWorld(answers: readonly Answer[]) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const serverTransport = network.transport();
  const registrations: number[] = [];
  serverTransport.onDatagram((data, peer) => {
    const request = decode(data);
    if (request.code !== Method.GET || getUintOption(request.options, OptionNumber.Observe) !== 0) return;
    const answer = answers[registrations.length];
    registrations.push(clock.now());
    if (answer === undefined) return;
    const options = [
      ...(answer.sequence === undefined ? [] : [uintOption(OptionNumber.Observe, answer.sequence)]),
      uintOption(OptionNumber.MaxAge, answer.maxAge),
    ].sort((a, b) => a.number - b.number);
    serverTransport.send(encode({
      type: MessageType.ACK, code: answer.code ?? ResponseCode.Content, messageId: request.messageId, token: request.token,
      options, payload: Buffer.from(String(registrations.length)),
    }), peer);
  });
  const client = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(7) });
  const server = serverTransport.address();
  /** Registers, running the clock until the first answer is in. */
  const observe = async () => {
    let settled = false;
    const started = client.observe({ peer: server, path: '/updates', reregisterMarginMs: 1000 }).finally(() => { settled = true; });
    await drive(clock, () => settled, 60_000, 1000);
    return started;
  };
  return { clock, client, observe, registrations };
}

test('a renewal answered with a lower sequence number (a restarted server) is the new baseline: the client renews again after its Max-Age', async () => {
  const world = scriptedWorld([{ sequence: 50_000, maxAge: 1 }, { sequence: 10, maxAge: 1 }, { sequence: 11, maxAge: 1 }]);
  try {
    const { observation, first } = await world.observe();
    assert.is(getUintOption(first.options, OptionNumber.Observe), 50_000);
    assert.is(observation.state, 'active');
    const seen: string[] = [];
    const reading = (async () => { for await (const notification of observation) seen.push(notification.payload.toString()); })().catch((error: Error) => error);
    await drive(world.clock, () => world.registrations.length >= 3, 60_000, 1000);
    assert.is(world.registrations.length, 3, 'renewed once more after the answer numbered 10');
    // Max-Age 1 s plus the 1 s margin, plus the link's latency each way.
    assert.ok(world.registrations[2]! - world.registrations[1]! <= 2_100, `renewed ${world.registrations[2]! - world.registrations[1]!} ms after the last answer`);
    await drive(world.clock, () => seen.length >= 2, 1000, 100);
    assert.equal(seen, ['2', '3'], 'both renewal answers reach the reader, the one numbered 10 included');
    assert.is(observation.state, 'active');
    observation.forget();
    await reading;
  } finally {
    await world.client.close();
  }
});

test('a renewal answered without Observe ends the observation, so its owner observes anew', async () => {
  const world = scriptedWorld([{ sequence: 5, maxAge: 1 }, { maxAge: 1 }]);
  try {
    const { observation } = await world.observe();
    const seen: number[] = [];
    const reading = (async () => { for await (const notification of observation) seen.push(notification.code); })().catch((error: Error) => error);
    await drive(world.clock, () => observation.state === 'ended', 60_000, 1000);
    await reading;
    assert.is(observation.state, 'ended');
    assert.equal(seen, [ResponseCode.Content], 'the plain answer is delivered, then the iteration ends');
    assert.is(world.registrations.length, 2);
  } finally {
    await world.client.close();
  }
});

test('a renewal answered with an error ends the observation', async () => {
  const world = scriptedWorld([{ sequence: 5, maxAge: 1 }, { code: ResponseCode.ServiceUnavailable, maxAge: 1 }]);
  try {
    const { observation } = await world.observe();
    await drive(world.clock, () => observation.state === 'ended', 60_000, 1000);
    assert.is(observation.state, 'ended');
  } finally {
    await world.client.close();
  }
});

test('an observation whose renewals go unanswered is renewing, never active, and ends once its retries are spent', async () => {
  const world = scriptedWorld([{ sequence: 5, maxAge: 1 }]);
  try {
    const { observation } = await world.observe();
    const ending = (async () => { for await (const _ of observation) { /* none expected */ } })().then(() => undefined, (error: Error) => error);
    await drive(world.clock, () => world.registrations.length >= 2, 60_000, 1000);
    assert.is(observation.state, 'renewing');
    await drive(world.clock, () => observation.state === 'ended', 3_600_000);
    assert.is(observation.state, 'ended');
    const error = await ending;
    assert.is((error as { code?: string } | undefined)?.code, 'COAP_ERR_RETRANSMIT_TIMEOUT');
  } finally {
    await world.client.close();
  }
});

test.run();
