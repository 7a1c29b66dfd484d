// The message layer on its own (RFC 7252 §4), against a raw peer that reads and writes
// bytes on the in-memory link, on a virtual clock: the retransmission schedule, ACK and
// RST matching, deduplication and its lifetime, safe requests answered afresh, pings,
// rejection, NSTART with its bounded queue, message IDs, and close().

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { ClosedError, QueueFullError, ResetError, RetransmitTimeoutError } from '../../../src/protocol/errors.js';
import type { Peer } from '../../../src/protocol/interfaces.js';
import { emptyMessage, EMPTY_BUFFER, MessageType, type Message } from '../../../src/protocol/message.js';
import { MessageLayer, type Acknowledgement, type MessageDraft } from '../../../src/protocol/message-layer.js';
import { DEFAULT_PARAMETERS } from '../../../src/protocol/parameters.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork, type MemoryTransport } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

const LATENCY_MS = 1;

interface World {
  readonly clock: VirtualClock;
  readonly layer: MessageLayer;
  /** The other side: raw datagrams, decoded, with the time they arrived. */
  readonly raw: MemoryTransport;
  readonly received: { at: number; message: Message }[];
  /** Messages the layer handed up, and RSTs it could not match. */
  readonly delivered: Message[];
  readonly resets: number[];
  send(message: Message): void;
  sendBytes(bytes: Buffer): void;
}

function world(options: { nstart?: number; queuePerPeer?: number; reply?: (layer: MessageLayer, message: Message, peer: Peer) => void } = {}): World {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, LATENCY_MS);
  const transport = network.transport();
  const raw = network.transport();
  const layer = new MessageLayer({
    transport, clock, random: new SeededRandom(7),
    ...(options.nstart === undefined ? {} : { parameters: { nstart: options.nstart } }),
    ...(options.queuePerPeer === undefined ? {} : { limits: { queuePerPeer: options.queuePerPeer } }),
  });
  const received: World['received'] = [];
  const delivered: Message[] = [];
  const resets: number[] = [];
  raw.onDatagram((data) => received.push({ at: clock.now(), message: decode(data) }));
  layer.setHandler({
    message: (message, peer) => {
      delivered.push(message);
      options.reply?.(layer, message, peer);
    },
    reset: (messageId) => resets.push(messageId),
  });
  const sendBytes = (bytes: Buffer): void => raw.send(bytes, transport.address());
  return { clock, layer, raw, received, delivered, resets, sendBytes, send: (message) => sendBytes(encode(message)) };
}

const draft = (code: number = Method.POST, payload = 'x'): MessageDraft => ({
  code, token: Buffer.from([1, 2]), options: [], payload: Buffer.from(payload),
});

/** Settles a promise into a value the test can inspect after moving the clock. */
function capture<T>(promise: Promise<T>): { value?: T; error?: Error } {
  const box: { value?: T; error?: Error } = {};
  promise.then((value) => { box.value = value; }, (error: Error) => { box.error = error; });
  return box;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a CON is retransmitted MAX_RETRANSMIT times with doubling timeouts, then fails with a retransmit timeout', async () => {
  const { clock, layer, raw, received } = world();
  const outcome = capture(layer.sendConfirmable(raw.address(), draft()));
  clock.advance(300_000);
  await flush();
  const times = received.map((entry) => entry.at - LATENCY_MS);
  assert.is(times.length, 1 + DEFAULT_PARAMETERS.maxRetransmit, 'the first send and four retransmissions');
  assert.ok(new Set(received.map((entry) => entry.message.messageId)).size === 1, 'one message ID throughout');
  const first = times[1]! - times[0]!;
  // §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR].
  assert.ok(first >= 2000 && first <= 3000, `first timeout ${first} ms`);
  for (let index = 2; index < times.length; index++) {
    assert.ok(Math.abs(times[index]! - times[index - 1]! - first * 2 ** (index - 1)) < 1e-6, `timeout ${index} doubles`);
  }
  assert.instance(outcome.error, RetransmitTimeoutError);
  assert.is(layer.sizes.outstanding, 0);
  assert.is(clock.pendingTimers, 0, 'no timer left behind');
});

test('an ACK ends the retransmissions and resolves with it; a late duplicate ACK is ignored', async () => {
  const { clock, layer, raw, received, send } = world();
  const outcome = capture<Acknowledgement>(layer.sendConfirmable(raw.address(), draft()));
  clock.advance(LATENCY_MS);
  const messageId = received[0]!.message.messageId;
  send({ type: MessageType.ACK, code: ResponseCode.Changed, messageId, token: Buffer.from([1, 2]), options: [], payload: EMPTY_BUFFER });
  clock.advance(LATENCY_MS);
  await flush();
  assert.is(outcome.value?.message.code, ResponseCode.Changed);
  send(emptyMessage(MessageType.ACK, messageId));
  clock.advance(300_000);
  await flush();
  assert.is(received.length, 1, 'never retransmitted');
  assert.is(layer.sizes.outstanding, 0);
});

test('an RST to our CON fails it with a reset; an RST to nothing of ours reaches the handler', async () => {
  const { clock, layer, raw, received, resets, send } = world();
  const outcome = capture(layer.sendConfirmable(raw.address(), draft()));
  clock.advance(LATENCY_MS);
  send(emptyMessage(MessageType.RST, received[0]!.message.messageId));
  clock.advance(LATENCY_MS);
  await flush();
  assert.instance(outcome.error, ResetError);
  const nonId = layer.sendNonConfirmable(raw.address(), draft());
  clock.advance(LATENCY_MS);
  send(emptyMessage(MessageType.RST, nonId));
  clock.advance(LATENCY_MS);
  assert.equal(resets, [nonId]);
});

test('a duplicate CON within EXCHANGE_LIFETIME gets the cached reply byte for byte, the handler runs once; after it, the request is new', () => {
  const w = world({
    reply: (layer, message, peer) => layer.reply(peer, { type: MessageType.ACK, code: ResponseCode.Changed, messageId: message.messageId, token: message.token, options: [], payload: Buffer.from(`run ${Math.random()}`) }, message.code),
  });
  const request: Message = { type: MessageType.CON, code: Method.POST, messageId: 0x1234, token: Buffer.from([9]), options: [], payload: Buffer.from('p') };
  w.send(request);
  w.clock.advance(10);
  w.send(request);
  w.clock.advance(10);
  assert.is(w.delivered.length, 1, 'handler once');
  assert.is(w.received.length, 2, 'both copies answered');
  assert.ok(encode(w.received[0]!.message).equals(encode(w.received[1]!.message)), 'the same bytes');
  w.clock.advance(w.layer.times.exchangeLifetime);
  w.send(request);
  w.clock.advance(10);
  assert.is(w.delivered.length, 2, 'a new request after EXCHANGE_LIFETIME');
  assert.ok(w.layer.sizes.dedup <= 1);
});

test('a duplicate NON is dropped for NON_LIFETIME; a duplicate GET (safe, §4.5) reaches the handler again', () => {
  const w = world({ reply: (layer, message, peer) => { if (message.type === MessageType.CON) layer.reply(peer, emptyMessage(MessageType.ACK, message.messageId), message.code); } });
  const non: Message = { type: MessageType.NON, code: Method.POST, messageId: 7, token: Buffer.from([1]), options: [], payload: EMPTY_BUFFER };
  w.send(non);
  w.send(non);
  w.clock.advance(10);
  assert.is(w.delivered.length, 1);
  const get: Message = { type: MessageType.CON, code: Method.GET, messageId: 8, token: Buffer.from([2]), options: [], payload: EMPTY_BUFFER };
  w.send(get);
  w.send(get);
  w.clock.advance(10);
  assert.is(w.delivered.length, 3, 'both GETs handled');
  assert.is(w.layer.sizes.dedup, 1, 'only the NON is remembered');
});

test('a ping, a reserved class and an unparsable CON get RST; an unparsable NON gets silence', () => {
  const w = world();
  w.send({ type: MessageType.CON, code: 0, messageId: 100, token: EMPTY_BUFFER, options: [], payload: EMPTY_BUFFER });
  w.send({ type: MessageType.CON, code: (7 << 5) | 1, messageId: 101, token: EMPTY_BUFFER, options: [], payload: EMPTY_BUFFER });
  // Version 1, CON, token length 9 (reserved): a header we can read, a message we cannot.
  w.sendBytes(Buffer.from([0x49, 0x01, 0x00, 0x66]));
  w.sendBytes(Buffer.from([0x59, 0x01, 0x00, 0x67]));
  w.clock.advance(10);
  assert.equal(w.received.map((entry) => [entry.message.type, entry.message.messageId]), [
    [MessageType.RST, 100], [MessageType.RST, 101], [MessageType.RST, 0x66],
  ]);
  assert.is(w.delivered.length, 0);
});

test('NSTART 1: a second CON waits for the first to end; past the queue bound a CON fails at once', async () => {
  const { clock, layer, raw, received, send } = world({ nstart: 1, queuePerPeer: 1 });
  const first = capture(layer.sendConfirmable(raw.address(), draft()));
  const second = capture(layer.sendConfirmable(raw.address(), draft()));
  const third = capture(layer.sendConfirmable(raw.address(), draft()));
  await flush();
  assert.instance(third.error, QueueFullError);
  clock.advance(LATENCY_MS);
  assert.is(received.length, 1, 'one outstanding');
  assert.is(layer.sizes.queued, 1);
  send(emptyMessage(MessageType.ACK, received[0]!.message.messageId));
  clock.advance(LATENCY_MS * 2);
  await flush();
  assert.ok(first.value !== undefined);
  assert.is(received.length, 2, 'the queued one went out');
  assert.is(received[1]!.message.messageId, (received[0]!.message.messageId + 1) & 0xffff, 'message IDs count up per peer');
  send(emptyMessage(MessageType.ACK, received[1]!.message.messageId));
  clock.advance(LATENCY_MS * 2);
  await flush();
  assert.ok(second.value !== undefined);
  assert.equal(layer.sizes, { dedup: 0, dedupBytes: 0, outstanding: 0, queued: 0 });
});

test('close() fails the outstanding and the queued CONs with ClosedError and leaves no timer', async () => {
  const { clock, layer, raw } = world({ nstart: 1 });
  const outstanding = capture(layer.sendConfirmable(raw.address(), draft()));
  const queued = capture(layer.sendConfirmable(raw.address(), draft()));
  layer.close();
  await flush();
  assert.instance(outstanding.error, ClosedError);
  assert.instance(queued.error, ClosedError);
  clock.advance(LATENCY_MS);
  assert.is(clock.pendingTimers, 0);
  await flush();
  assert.throws(() => layer.sendNonConfirmable(raw.address(), draft()), (error: Error) => error instanceof ClosedError);
});

test.run();
