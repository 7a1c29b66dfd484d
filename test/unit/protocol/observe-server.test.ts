// The Observe server on its own (RFC 7641 §3, §4): the ObserveRegistry over a message
// layer on the in-memory link and a virtual clock, with raw peers that read and answer
// bytes; deregistration by GET through an endpoint. Registration and replacement, bounds,
// the newest state only for a slow observer, CON cadence, removal on RST, on an
// unacknowledged CON, on 4.04 and on an error, dropPeer, sequence numbers, transitions.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import type { Logger, Peer } from '../../../src/protocol/interfaces.js';
import { emptyMessage, EMPTY_BUFFER, MessageType, type Message } from '../../../src/protocol/message.js';
import { MessageLayer } from '../../../src/protocol/message-layer.js';
import { DEFAULT_OBSERVE_LIMITS, ObserveRegistry, type ObserveLimits, type Renderer } from '../../../src/protocol/observe-server.js';
import { OBSERVE_SEQUENCE_MODULUS } from '../../../src/protocol/observe-sequence.js';
import { getUintOption, OptionNumber, stringOption, uintOption } from '../../../src/protocol/options.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import type { CoapRequest, ResponseInit } from '../../../src/protocol/server-types.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { advanceBy, until } from '../../helpers/virtual-world.js';

const INITIAL_SEQUENCE = 100;

interface RawPeer {
  readonly peer: Peer;
  readonly received: Message[];
  send(message: Message): void;
}

function world(limits: Partial<ObserveLimits> = {}, logger: Logger = silentLogger, initialSequence = INITIAL_SEQUENCE) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  const transport = network.transport();
  const layer = new MessageLayer({ transport, clock, random: new SeededRandom(5) });
  const registry = new ObserveRegistry(layer, clock, logger, { ...DEFAULT_OBSERVE_LIMITS, ...limits }, initialSequence);
  layer.setHandler({ message: () => {}, reset: (messageId, peer) => registry.onReset(peer, messageId) });
  /** A raw peer at a fresh port, with an authenticated identity when given. */
  const rawPeer = (identity?: string): RawPeer => {
    const raw = network.transport();
    const received: Message[] = [];
    raw.onDatagram((data) => received.push(decode(data)));
    const peer: Peer = identity === undefined ? raw.address() : { ...raw.address(), identity };
    return { peer, received, send: (message) => raw.send(encode(message), transport.address()) };
  };
  /** Lets the link deliver what is on it and the renders settle, and no later timer run. */
  const run = (ms = 10): Promise<void> => advanceBy(clock, ms);
  return { clock, layer, registry, rawPeer, run };
}

let nextMessageId = 1;
function request(peer: Peer, token: number, path = '/r'): CoapRequest {
  const tokenBytes = Buffer.from([token]);
  const message: Message = { type: MessageType.CON, code: Method.GET, messageId: nextMessageId++, token: tokenBytes, options: [], payload: EMPTY_BUFFER };
  return {
    method: Method.GET, path: path.split('/').filter((segment) => segment !== ''), params: {}, query: [], options: [],
    payload: EMPTY_BUFFER, contentFormat: undefined, accept: undefined, peer, token: tokenBytes, confirmable: true, message,
  };
}

/** A resource whose state the test changes; counts its renders. */
function resource(initial = 0) {
  const state = { value: initial, renders: 0 };
  const render: Renderer = () => {
    state.renders++;
    return Promise.resolve({ code: ResponseCode.Content, payload: String(state.value) });
  };
  return { state, render };
}

const observeOf = (message: Message): number | undefined => getUintOption(message.options, OptionNumber.Observe);
const ack = (message: Message): Message => emptyMessage(MessageType.ACK, message.messageId);

test('a registration answers with the next sequence number; the same peer and token replaces it (§4.1), another token adds one', async () => {
  const { registry, rawPeer, run } = world();
  const a = rawPeer();
  const first = resource(1);
  const second = resource(2);
  assert.is(registry.register(request(a.peer, 1), first.render), INITIAL_SEQUENCE + 1);
  assert.is(registry.register(request(a.peer, 1), second.render), INITIAL_SEQUENCE + 2);
  assert.is(registry.size, 1, 'replaced, not added');
  assert.is(registry.observers('/r'), 1);
  registry.notify('/r');
  await run();
  assert.is(first.state.renders, 0, 'the replaced registration renders nothing');
  assert.equal(a.received.map((message) => message.payload.toString()), ['2']);
  registry.register(request(a.peer, 2), first.render);
  assert.is(registry.size, 2);
  assert.is(registry.observers('/r'), 2);
});

test('the per-observer bound counts an address, or an identity across its addresses; the per-resource and total bounds', () => {
  const { registry, rawPeer } = world({ perPeer: 2, perResource: 3, total: 4 });
  const { render } = resource();
  const plain = rawPeer();
  assert.ok(registry.register(request(plain.peer, 1), render) !== undefined);
  assert.ok(registry.register(request(plain.peer, 2, '/s'), render) !== undefined);
  assert.is(registry.register(request(plain.peer, 3, '/t'), render), undefined, 'a third from one address');
  const [one, two] = [rawPeer('node-1'), rawPeer('node-1')];
  assert.ok(registry.register(request(one.peer, 1), render) !== undefined);
  assert.ok(registry.register(request(two.peer, 1), render) !== undefined);
  assert.is(registry.register(request(two.peer, 2, '/t'), render), undefined, 'a third from one identity at another port');
  assert.is(registry.observers('/r'), 3);
  assert.is(registry.register(request(rawPeer().peer, 1), render), undefined, 'a fourth on one resource');
  assert.is(registry.size, 4);
  assert.is(registry.register(request(rawPeer().peer, 1, '/u'), render), undefined, 'a fifth in all');
  assert.ok(registry.register(request(one.peer, 1), render) !== undefined, 'a replacement is no new registration');
  assert.is(registry.size, 4);
});

test('a slow observer gets only the newest state once its CON is acknowledged, never a queue (§4.5.2)', async () => {
  const { registry, rawPeer, run } = world();
  const a = rawPeer();
  const { state, render } = resource();
  registry.register(request(a.peer, 1), render, true);
  registry.notify('/r');
  await run();
  assert.is(a.received.length, 1);
  assert.is(a.received[0]!.type, MessageType.CON);
  for (let value = 1; value <= 3; value++) {
    state.value = value;
    registry.notify('/r');
    await run();
  }
  assert.is(a.received.length, 1, 'nothing more while the CON is unacknowledged');
  a.send(ack(a.received[0]!));
  await run();
  assert.equal(a.received.map((message) => message.payload.toString()), ['0', '3']);
  a.send(ack(a.received[1]!));
  await run();
  assert.is(a.received.length, 2, 'no stale state after the newest');
  assert.is(state.renders, 2);
});

test('every N-th notification is confirmable, and one at least every 24 hours (§4.5)', async () => {
  const { clock, registry, rawPeer, run } = world({ confirmableEvery: 3 });
  const a = rawPeer();
  registry.register(request(a.peer, 1), resource().render);
  for (let round = 0; round < 6; round++) {
    registry.notify('/r');
    await run();
    const last = a.received.at(-1)!;
    if (last.type === MessageType.CON) a.send(ack(last));
    await run();
  }
  assert.equal(a.received.map((message) => message.type), [
    MessageType.NON, MessageType.NON, MessageType.CON, MessageType.NON, MessageType.NON, MessageType.CON,
  ]);
  a.received.length = 0;
  clock.advance(DEFAULT_OBSERVE_LIMITS.confirmableIntervalMs);
  registry.notify('/r');
  await run();
  assert.equal(a.received.map((message) => message.type), [MessageType.CON], '24 hours after the last CON');
  a.send(ack(a.received[0]!));
  registry.notify('/r');
  await run();
  assert.equal(a.received.map((message) => message.type), [MessageType.CON, MessageType.NON], 'the count starts again');
});

test('an RST to a NON notification removes the registration (§3.6); an RST to anything else does not', async () => {
  const { registry, rawPeer, run } = world();
  const a = rawPeer();
  registry.register(request(a.peer, 1), resource().render);
  registry.notify('/r');
  await run();
  const notification = a.received[0]!;
  assert.is(notification.type, MessageType.NON);
  a.send(emptyMessage(MessageType.RST, (notification.messageId + 1) & 0xffff));
  await run();
  assert.is(registry.size, 1, 'an RST naming no notification of ours');
  a.send(emptyMessage(MessageType.RST, notification.messageId));
  await run();
  assert.is(registry.size, 0);
  assert.is(registry.observers('/r'), 0);
});

test('a CON notification never acknowledged removes the registration after the retransmissions; an RST to one too', async () => {
  const { clock, registry, rawPeer, run } = world();
  const silent = rawPeer();
  const resetting = rawPeer();
  registry.register(request(silent.peer, 1), resource().render, true);
  registry.register(request(resetting.peer, 1, '/s'), resource().render, true);
  registry.notify('/r');
  registry.notify('/s');
  await run();
  resetting.send(emptyMessage(MessageType.RST, resetting.received[0]!.messageId));
  await run();
  assert.is(registry.observers('/s'), 0, 'the RST ended it');
  assert.is(registry.observers('/r'), 1, 'still retransmitting');
  await until(clock, 'the unacknowledged CON ends its registration', () => registry.size === 0, 300_000);
  assert.is(silent.received.length, 5, 'the first send and four retransmissions');
  assert.ok(silent.received.every((message) => message.messageId === silent.received[0]!.messageId));
});

test('the late failure of a replaced registration\'s CON notification leaves its successor in place', async () => {
  const { clock, registry, rawPeer, run } = world();
  const a = rawPeer();
  registry.register(request(a.peer, 1), resource().render, true);
  registry.notify('/r');
  await run();
  assert.is(a.received[0]!.type, MessageType.CON);
  registry.register(request(a.peer, 1), resource().render, true);
  await until(clock, 'the old CON to run out of retransmissions', () => a.received.length === 5, 300_000);
  await advanceBy(clock, 100_000, 100); // past the last retransmission's timeout (§4.2)
  assert.is(registry.size, 1, 'the successor stays');
});

test('deregister() ends one registration and names it; removeResource() sends a final 4.04 without Observe', async () => {
  const { registry, rawPeer, run } = world();
  const a = rawPeer();
  const b = rawPeer();
  const { render } = resource();
  registry.register(request(a.peer, 1), render);
  registry.register(request(a.peer, 2, '/gone'), render);
  registry.register(request(b.peer, 1, '/gone'), render);
  assert.ok(registry.deregister(a.peer, Buffer.from([1])));
  assert.not.ok(registry.deregister(a.peer, Buffer.from([1])), 'already gone');
  assert.is(registry.observers('/r'), 0);
  registry.removeResource('/gone');
  await run();
  assert.is(registry.size, 0);
  for (const peer of [a, b]) {
    assert.is(peer.received.length, 1);
    assert.is(peer.received[0]!.code, ResponseCode.NotFound);
    assert.is(observeOf(peer.received[0]!), undefined);
  }
  assert.equal(a.received[0]!.token, Buffer.from([2]));
});

test('endAll() ends a path\'s relations with the final response given; onIdle() names a path when its last registration ends', async () => {
  const { registry, rawPeer, run } = world();
  const a = rawPeer();
  const b = rawPeer();
  const { render } = resource();
  const idle: string[] = [];
  const stop = registry.onIdle((path) => idle.push(path));
  registry.register(request(a.peer, 1, '/p'), render);
  registry.register(request(b.peer, 1, '/p'), render);
  registry.register(request(a.peer, 2, '/q'), render);
  assert.ok(registry.deregister(a.peer, Buffer.from([1])));
  assert.equal(idle, [], '/p still has an observer');
  registry.endAll('/p', { code: ResponseCode.GatewayTimeout, payload: 'upstream gone' });
  await run();
  assert.equal(idle, ['/p']);
  assert.is(b.received.length, 1);
  assert.equal([b.received[0]!.code, b.received[0]!.payload.toString(), observeOf(b.received[0]!)], [ResponseCode.GatewayTimeout, 'upstream gone', undefined]);
  assert.is(registry.observers('/q'), 1, 'other paths untouched');
  stop();
  registry.deregister(a.peer, Buffer.from([2]));
  assert.equal(idle, ['/p'], 'a removed listener hears nothing');
});

test('a notification with an error code ends the relation (§3.2), as does a render that throws (5.00)', async () => {
  const { registry, rawPeer, run } = world();
  const a = rawPeer();
  let answer: ResponseInit | Error = { code: ResponseCode.ServiceUnavailable };
  const render: Renderer = () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer));
  registry.register(request(a.peer, 1), render);
  registry.register(request(a.peer, 2, '/s'), () => Promise.reject(new Error('broken handler')));
  registry.notify('/r');
  registry.notify('/s');
  await run();
  assert.is(registry.size, 0);
  assert.equal(a.received.map((message) => [message.code, observeOf(message)]).sort(), [
    [ResponseCode.InternalServerError, undefined], [ResponseCode.ServiceUnavailable, undefined],
  ].sort());
  answer = new Error('unused');
  registry.notify('/r');
  await run();
  assert.is(a.received.length, 2, 'nothing for an ended relation');
});

test('dropPeer() removes that address\'s registrations, sends nothing, and leaves the others', async () => {
  const { registry, rawPeer, run } = world();
  const gone = rawPeer();
  const stays = rawPeer();
  const { render } = resource();
  registry.register(request(gone.peer, 1), render);
  registry.register(request(gone.peer, 2, '/s'), render);
  registry.register(request(stays.peer, 1), render);
  assert.is(registry.dropPeer(gone.peer), 2);
  assert.is(registry.dropPeer(gone.peer), 0);
  registry.notify('/r');
  registry.notify('/s');
  await run();
  assert.is(gone.received.length, 0);
  assert.is(stays.received.length, 1);
  assert.is(registry.size, 1);
});

test('sequence numbers increase across registrations and notifications, and wrap at 24 bits (§4.4)', async () => {
  const { registry, rawPeer, run } = world({}, silentLogger, OBSERVE_SEQUENCE_MODULUS - 2);
  const a = rawPeer();
  const b = rawPeer();
  const { render } = resource();
  assert.is(registry.register(request(a.peer, 1), render), OBSERVE_SEQUENCE_MODULUS - 1);
  assert.is(registry.register(request(b.peer, 1), render), 0);
  for (let round = 0; round < 3; round++) {
    registry.notify('/r');
    await run();
  }
  const sequences = [...a.received, ...b.received].map((message) => observeOf(message)!).sort((x, y) => x - y);
  assert.equal(sequences, [1, 2, 3, 4, 5, 6], 'each notification its own number');
  const perObserver = a.received.map((message) => observeOf(message)!);
  assert.ok(perObserver.every((value, index) => index === 0 || value > perObserver[index - 1]!), `increasing: ${perObserver.join(', ')}`);
});

test('each registration change goes through a transition logged from -> to', async () => {
  const lines: string[] = [];
  const logger: Logger = { ...silentLogger, debug: (_fields, message) => { if (typeof message === 'string' && message.startsWith('observe registration')) lines.push(message); } };
  const { registry, rawPeer, run } = world({ confirmableEvery: 2 }, logger);
  const a = rawPeer();
  registry.register(request(a.peer, 1), resource().render);
  registry.notify('/r');
  await run();
  registry.notify('/r');
  await run();
  a.send(ack(a.received[1]!));
  await run();
  registry.deregister(a.peer, Buffer.from([1]));
  // A new relation is logged once as added; the same token again (§4.1) as renewed.
  registry.register(request(a.peer, 2), resource().render);
  registry.register(request(a.peer, 2), resource().render);
  assert.equal(lines, [
    'observe registration added',
    'observe registration idle -> rendering', 'observe registration rendering -> idle',
    'observe registration idle -> rendering', 'observe registration rendering -> in-flight',
    'observe registration in-flight -> idle', 'observe registration idle -> ended',
    'observe registration added', 'observe registration idle -> ended', 'observe registration renewed',
  ]);
});

test('a GET with Observe = 1, or a plain GET, from the same peer and token deregisters (§3.6)', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(3) });
  const raw = network.transport();
  const received: Message[] = [];
  raw.onDatagram((data) => received.push(decode(data)));
  const get = (token: number, observe?: number): void => {
    const options = [stringOption(OptionNumber.UriPath, 'o'), ...(observe === undefined ? [] : [uintOption(OptionNumber.Observe, observe)])]
      .sort((x, y) => x.number - y.number);
    raw.send(encode({ type: MessageType.CON, code: Method.GET, messageId: nextMessageId++, token: Buffer.from([token]), options, payload: EMPTY_BUFFER }), server.address());
  };
  try {
    server.router.add('/o', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'o' }) } });
    get(1, 0);
    get(2, 0);
    await until(clock, 'two registrations', () => server.observers('/o') === 2);
    get(1, 1);
    await until(clock, 'the Observe = 1 deregistration', () => server.observers('/o') === 1);
    get(2);
    await until(clock, 'the plain GET deregistration', () => server.observers('/o') === 0);
    await until(clock, 'every GET answered', () => received.length === 4);
    assert.ok(received.every((message) => message.code === ResponseCode.Content));
    assert.is(observeOf(received.at(-1)!), undefined);
  } finally { await server.close(); }
});

test.run();
