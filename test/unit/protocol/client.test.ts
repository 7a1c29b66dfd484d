// The client side on its own (RFC 7252 §5.2, §5.3), against a raw peer on the in-memory
// link and a virtual clock: piggybacked and separate responses, tokens, NON requests,
// time limits, cancellation, listeners for later responses, and close().

import { setMaxListeners } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, type CoapResponse } from '../../../src/protocol/client.js';
import { decode, encode } from '../../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { CancelledError, ClosedError, QueueFullError, RequestTimeoutError } from '../../../src/protocol/errors.js';
import { emptyMessage, EMPTY_BUFFER, MessageType, type Message } from '../../../src/protocol/message.js';
import { MessageLayer } from '../../../src/protocol/message-layer.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

function world(maxOpenExchanges = 16) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  const transport = network.transport();
  const raw = network.transport();
  const random = new SeededRandom(11);
  const messageLayer = new MessageLayer({ transport, clock, random });
  const client = new Client({ messageLayer, clock, random, logger: silentLogger, tokenLength: 4, maxOpenExchanges });
  const unmatched: Message[] = [];
  messageLayer.setHandler({
    message: (message, peer) => { if (!client.handleResponse(message, peer)) unmatched.push(message); },
    reset: () => {},
  });
  const received: Message[] = [];
  raw.onDatagram((data) => received.push(decode(data)));
  const send = (message: Message): void => raw.send(encode(message), transport.address());
  return { clock, client, messageLayer, raw, received, unmatched, send };
}

const get = { code: Method.GET, options: [], payload: EMPTY_BUFFER };

function capture<T>(promise: Promise<T>): { value?: T; error?: Error } {
  const box: { value?: T; error?: Error } = {};
  promise.then((value) => { box.value = value; }, (error: Error) => { box.error = error; });
  return box;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const response = (request: Message, type: MessageType, code: number, messageId = request.messageId, payload = 'ok'): Message => ({
  type, code, messageId, token: request.token, options: [], payload: Buffer.from(payload),
});

test('a piggybacked response in the ACK settles the request', async () => {
  const { clock, client, raw, received, send } = world();
  const outcome = capture<CoapResponse>(client.request(raw.address(), get));
  clock.advance(1);
  send(response(received[0]!, MessageType.ACK, ResponseCode.Content));
  clock.advance(1);
  await flush();
  assert.is(outcome.value?.code, ResponseCode.Content);
  assert.is(outcome.value?.payload.toString(), 'ok');
  assert.is(client.openExchanges, 0);
});

test('an empty ACK then a separate CON response: the response is acknowledged and settles the request (§5.2.2)', async () => {
  const { clock, client, raw, received, send } = world();
  const outcome = capture<CoapResponse>(client.request(raw.address(), get));
  clock.advance(1);
  const request = received[0]!;
  send(emptyMessage(MessageType.ACK, request.messageId));
  clock.advance(1);
  await flush();
  assert.is(outcome.value, undefined, 'still waiting after the empty ACK');
  send(response(request, MessageType.CON, ResponseCode.Content, 0x4242, 'late'));
  clock.advance(1);
  await flush();
  assert.is(outcome.value?.payload.toString(), 'late');
  clock.advance(1);
  assert.equal(received.slice(1).map((message) => [message.type, message.messageId]), [[MessageType.ACK, 0x4242]]);
});

test('a response with another token is not taken; the request times out with its own limit', async () => {
  const { clock, client, raw, received, send, unmatched } = world();
  const outcome = capture(client.request(raw.address(), get, { timeoutMs: 5000 }));
  clock.advance(1);
  const request = received[0]!;
  send(emptyMessage(MessageType.ACK, request.messageId));
  send({ ...response(request, MessageType.NON, ResponseCode.Content, 9), token: Buffer.from('nope') });
  clock.advance(4998);
  await flush();
  assert.is(outcome.error, undefined);
  assert.is(unmatched.length, 1, 'the stray response is left to the endpoint');
  clock.advance(2);
  await flush();
  assert.instance(outcome.error, RequestTimeoutError);
  assert.is(client.openExchanges, 0);
});

test('a NON request is sent once and settled by a NON response', async () => {
  const { clock, client, raw, received, send } = world();
  const outcome = capture<CoapResponse>(client.request(raw.address(), get, { confirmable: false }));
  clock.advance(1);
  assert.is(received[0]!.type, MessageType.NON);
  send(response(received[0]!, MessageType.NON, ResponseCode.Content, 77));
  clock.advance(1);
  await flush();
  assert.is(outcome.value?.type, MessageType.NON);
  clock.advance(100_000);
  assert.is(received.length, 1, 'never retransmitted');
});

test('tokens are unique among the open exchanges with a peer, and an abort signal cancels', async () => {
  const { clock, client, raw, received } = world(64);
  const controller = new AbortController();
  setMaxListeners(64, controller.signal);
  const outcomes = Array.from({ length: 40 }, () => capture(client.request(raw.address(), get, { signal: controller.signal, confirmable: false })));
  clock.advance(1);
  assert.is(new Set(received.map((message) => message.token.toString('hex'))).size, 40);
  controller.abort();
  await flush();
  assert.ok(outcomes.every((outcome) => outcome.error instanceof CancelledError));
  assert.is(client.openExchanges, 0);
});

test('past maxOpenExchanges a request fails at once; close() ends the open ones and the listeners', async () => {
  const { client, raw } = world(2);
  const open = [capture(client.request(raw.address(), get)), capture(client.request(raw.address(), get))];
  const refused = capture(client.request(raw.address(), get));
  let listenerClosed = false;
  client.listen(raw.address(), Buffer.from([1]), () => {}, () => { listenerClosed = true; });
  await flush();
  assert.instance(refused.error, QueueFullError);
  client.close();
  await flush();
  assert.ok(open.every((outcome) => outcome.error instanceof ClosedError));
  assert.ok(listenerClosed);
  const after = capture(client.request(raw.address(), get));
  await flush();
  assert.instance(after.error, ClosedError);
});

test('a listener gets later responses with its token until it stops listening', async () => {
  const { clock, client, raw, send, unmatched } = world();
  const token = client.newToken(raw.address());
  const heard: string[] = [];
  const stop = client.listen(raw.address(), token, (notification) => heard.push(notification.payload.toString()), () => {});
  const notification = (payload: string, messageId: number): Message => ({ type: MessageType.NON, code: ResponseCode.Content, messageId, token, options: [], payload: Buffer.from(payload) });
  send(notification('one', 1));
  clock.advance(1);
  stop();
  send(notification('two', 2));
  clock.advance(1);
  assert.equal(heard, ['one']);
  assert.is(unmatched.length, 1);
});

test.run();
