// The message layer with CoCoA (draft-ietf-core-cocoa) on a virtual link of a known
// round-trip time: the RTO it learns, the times its retransmissions go out at (counted on
// the wire), the weak samples, RFC 7252's span kept, the per-peer state bounded and
// forgotten, and the fixed §4.8 timers when the switch says so.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../src/protocol/codec.js';
import { Method } from '../../../src/protocol/codes.js';
import { RetransmitTimeoutError } from '../../../src/protocol/errors.js';
import { emptyMessage, MessageType, type Message } from '../../../src/protocol/message.js';
import { MessageLayer, type MessageDraft } from '../../../src/protocol/message-layer.js';
import type { TransmissionParameters } from '../../../src/protocol/parameters.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork, type MemoryTransport } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { drive } from '../../helpers/virtual-world.js';

interface Link {
  readonly clock: VirtualClock;
  readonly layer: MessageLayer;
  readonly raw: MemoryTransport;
  /** CONs as they reached the peer, with the time they were sent (arrival - one way). */
  readonly sent: { at: number; message: Message }[];
  /** Whether the peer answers this arrival (all by default). */
  answer: (message: Message, copy: number) => boolean;
}

/** CoCoA with the floor lowered from its default (500 ms) so that fast links show it learn. */
const LOW_FLOOR: Partial<TransmissionParameters> = { congestionControl: 'cocoa', minRtoMs: 100 };

/** Our layer and a raw peer that ACKs each CON it is told to, over a link of `rttMs`. */
function link(rttMs: number, parameters: Partial<TransmissionParameters> = LOW_FLOOR, seed = 11): Link {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, rttMs / 2);
  const transport = network.transport();
  const raw = network.transport();
  const layer = new MessageLayer({ transport, clock, random: new SeededRandom(seed), parameters });
  const copies = new Map<number, number>();
  const result: Link = {
    clock, layer, raw, sent: [], answer: () => true,
  };
  raw.onDatagram((data) => {
    const message = decode(data);
    result.sent.push({ at: clock.now() - rttMs / 2, message });
    const copy = copies.get(message.messageId) ?? 0;
    copies.set(message.messageId, copy + 1);
    if (result.answer(message, copy)) raw.send(encode(emptyMessage(MessageType.ACK, message.messageId)), transport.address());
  });
  return result;
}

const draft = (): MessageDraft => ({ code: Method.POST, token: Buffer.from([1]), options: [], payload: Buffer.from('x') });

/** Why the last exchange that failed failed. */
let lastError: unknown;

/** Sends one CON and runs the clock until it settles; returns whether it was answered. */
async function exchange(world: Link): Promise<boolean> {
  let outcome: boolean | undefined;
  world.layer.sendConfirmable(world.raw.address(), draft()).then(() => { outcome = true; }, (error: unknown) => {
    lastError = error;
    outcome = false;
  });
  await drive(world.clock, () => outcome !== undefined, 200_000);
  return outcome!;
}

/** The gaps between the transmissions of one message ID. */
function gaps(world: Link, messageId: number): number[] {
  const times = world.sent.filter((entry) => entry.message.messageId === messageId).map((entry) => entry.at);
  return times.slice(1).map((at, index) => at - times[index]!);
}

test('on a 500 ms link the RTO converges near 500 ms, and a lost CON is retransmitted at it, then x3 (RTO < 1 s)', async () => {
  const world = link(500);
  for (let i = 0; i < 30; i++) assert.ok(await exchange(world));
  const figures = world.layer.rtt(world.raw.address())!;
  assert.ok(figures.rto > 500 && figures.rto < 600, `RTO ${figures.rto} ms`);
  assert.is(figures.strong?.samples, 30);
  assert.ok(Math.abs(figures.strong!.srtt - 500) < 1);
  assert.is(figures.weak, undefined);
  assert.is(world.sent.length, 30, 'no retransmission on a steady link');
  // Now the peer stops answering: one transmission and four retransmissions at the RTO.
  const rto = figures.rto;
  world.answer = () => false;
  assert.not.ok(await exchange(world));
  const last = world.sent.at(-1)!.message.messageId;
  const [first, ...rest] = gaps(world, last);
  assert.is(rest.length, 3, 'four retransmissions in all');
  assert.ok(first! >= rto && first! <= rto * 1.5, `first timeout ${first} ms for an RTO of ${rto} ms`);
  rest.forEach((gap, index) => assert.ok(Math.abs(gap - first! * 3 ** (index + 1)) < 1e-6, `timeout ${index + 2} is x3`));
});

test('on a 50 ms link the RTO sits at its 100 ms floor; a CON lost once is retransmitted within 150 ms and gives a weak sample', async () => {
  const world = link(50);
  for (let i = 0; i < 20; i++) assert.ok(await exchange(world));
  assert.is(world.layer.rtt(world.raw.address())!.rto, 100);
  world.answer = (_message, copy) => copy > 0;
  const started = world.clock.now();
  assert.ok(await exchange(world));
  const elapsed = world.clock.now() - started;
  assert.is(world.sent.length, 22, 'one retransmission');
  const [gap] = gaps(world, world.sent.at(-1)!.message.messageId);
  assert.ok(gap! >= 100 && gap! <= 150, `retransmitted after ${gap} ms`);
  assert.ok(elapsed <= 150 + 50, `answered after ${elapsed} ms (the fixed timers would take 2-3 s)`);
  const figures = world.layer.rtt(world.raw.address())!;
  assert.is(figures.weak?.samples, 1);
  // Karn: the weak sample runs from the first transmission, not from the retransmission.
  assert.ok(Math.abs(figures.weak!.srtt - elapsed) < 1e-6, `weak SRTT ${figures.weak!.srtt}, exchange ${elapsed}`);
});

test('by default the RTO of a 50 ms link stops at its 500 ms floor', async () => {
  const world = link(50, { congestionControl: 'cocoa' });
  for (let i = 0; i < 20; i++) assert.ok(await exchange(world));
  assert.is(world.layer.rtt(world.raw.address())!.rto, 500);
  world.answer = () => false;
  assert.not.ok(await exchange(world));
  const [first] = gaps(world, world.sent.at(-1)!.message.messageId);
  assert.ok(first! >= 500 && first! <= 750, `first timeout ${first} ms`);
});

test('answered only after three retransmissions: no sample at all', async () => {
  const world = link(50);
  world.answer = (_message, copy) => copy >= 3;
  assert.ok(await exchange(world));
  const figures = world.layer.rtt(world.raw.address())!;
  assert.equal([figures.strong, figures.weak, figures.rto], [undefined, undefined, 2000]);
});

test('with the fixed switch the same 500 ms link keeps §4.8 timers (2-3 s, doubling), while the RTT is still measured', async () => {
  const world = link(500, { congestionControl: 'fixed' });
  for (let i = 0; i < 10; i++) assert.ok(await exchange(world));
  assert.is(world.layer.rtt(world.raw.address())!.strong?.samples, 10);
  world.answer = () => false;
  assert.not.ok(await exchange(world));
  const [first, ...rest] = gaps(world, world.sent.at(-1)!.message.messageId);
  assert.ok(first! >= 2000 && first! <= 3000, `first timeout ${first} ms`);
  rest.forEach((gap, index) => assert.ok(Math.abs(gap - first! * 2 ** (index + 1)) < 1e-6, `timeout ${index + 2} doubles`));
});

test('a large RTO (x1.5 backoff) sends nothing after MAX_TRANSMIT_SPAN and gives up within MAX_TRANSMIT_WAIT', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const world = link(50, { congestionControl: 'cocoa', minRtoMs: 8000 }, seed);
    world.answer = () => false;
    const started = world.clock.now();
    assert.not.ok(await exchange(world));
    const failedAfter = world.clock.now() - started;
    assert.instance(lastError, RetransmitTimeoutError);
    const times = world.sent.map((entry) => entry.at - started);
    assert.ok(times.length >= 3, `${times.length} transmissions`);
    assert.ok(times.every((at) => at <= world.layer.times.maxTransmitSpan), `sent at ${times.join(', ')}`);
    assert.ok(failedAfter > world.layer.times.maxTransmitSpan && failedAfter <= world.layer.times.maxTransmitWait, `gave up after ${failedAfter} ms`);
    assert.ok(Math.abs(times[2]! - times[1]! - 1.5 * (times[1]! - times[0]!)) < 1e-6, 'backoff x1.5 above 3 s');
  }
});

test('per-peer state is bounded (least recently active go first) and forgotten after EXCHANGE_LIFETIME idle', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const transport = network.transport();
  const layer = new MessageLayer({ transport, clock, random: new SeededRandom(3), parameters: { congestionControl: 'cocoa' }, limits: { peers: 2 } });
  const peers = [network.transport(), network.transport(), network.transport()];
  for (const peer of peers) {
    peer.onDatagram((data) => peer.send(encode(emptyMessage(MessageType.ACK, decode(data).messageId)), transport.address()));
  }
  const ask = async (peer: MemoryTransport): Promise<void> => {
    let done = false;
    layer.sendConfirmable(peer.address(), draft()).then(() => { done = true; });
    await drive(clock, () => done, 10_000);
    assert.ok(done);
  };
  await ask(peers[0]!);
  await ask(peers[1]!);
  assert.ok(layer.rtt(peers[0]!.address()) !== undefined);
  await ask(peers[2]!);
  assert.is(layer.rtt(peers[0]!.address()), undefined, 'the least recently active peer went past the bound');
  assert.ok(layer.rtt(peers[1]!.address())?.strong !== undefined);
  clock.advance(layer.times.exchangeLifetime);
  await ask(peers[2]!);
  assert.is(layer.rtt(peers[1]!.address()), undefined, 'an idle peer is forgotten');
  assert.is(clock.pendingTimers, 0, 'forgetting takes no timer');
  layer.close();
});

test.run();
