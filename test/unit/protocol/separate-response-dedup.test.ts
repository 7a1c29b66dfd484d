// A CON request answered by an empty ACK and a separate response (RFC 7252 §5.2.2), and
// its duplicates (§4.5): the handler runs once, a duplicate gets the empty ACK again, and
// exactly one separate response goes out, for a GET (safe, otherwise not deduplicated)
// as for a POST. A raw peer on the in-memory link, on a virtual clock.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { emptyMessage, MessageType, type Message } from '../../../src/protocol/message.js';
import { OptionNumber, stringOption } from '../../../src/protocol/options.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { drive } from '../../helpers/virtual-world.js';

const SEPARATE_AFTER_MS = 500;
const HANDLER_MS = 2000;

for (const method of [Method.GET, Method.POST]) {
  test(`${method === Method.GET ? 'GET' : 'POST'}: duplicates of a CON answered separately, before the empty ACK, after it and after the separate response, get one handler run and one separate response`, async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock, 1);
    const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(5), separateResponseDelayMs: SEPARATE_AFTER_MS });
    let runs = 0;
    server.router.add('/slow', {
      handlers: {
        [method === Method.GET ? 'GET' : 'POST']: () => {
          const run = ++runs;
          return new Promise((resolve) => clock.setTimeout(() => resolve({ code: ResponseCode.Content, payload: `run ${run}` }), HANDLER_MS));
        },
      },
    });
    const raw = network.transport();
    const received: Message[] = [];
    raw.onDatagram((data) => received.push(decode(data)));
    const request = encode({
      type: MessageType.CON, code: method, messageId: 0x1234, token: Buffer.from([7, 7]),
      options: [stringOption(OptionNumber.UriPath, 'slow')], payload: Buffer.alloc(0),
    });
    const send = (): void => raw.send(request, server.address());
    const emptyAcks = (): number => received.filter((m) => m.type === MessageType.ACK && m.code === 0 && m.messageId === 0x1234).length;
    const separate = (): Message[] => received.filter((m) => m.code === ResponseCode.Content);
    try {
      send();
      await drive(clock, () => false, 100);
      send(); // while the handler runs, before the empty ACK: nothing, the handler not again
      await drive(clock, () => emptyAcks() === 1, SEPARATE_AFTER_MS + 100);
      assert.is(emptyAcks(), 1, 'the empty ACK after the separate-response delay');
      send(); // after the empty ACK: the empty ACK again
      await drive(clock, () => emptyAcks() === 2, 100);
      assert.is(emptyAcks(), 2, 'a duplicate after the empty ACK gets it again');
      await drive(clock, () => separate().length > 0, HANDLER_MS);
      const [response] = separate();
      assert.ok(response !== undefined, 'the separate response');
      assert.is(response.type, MessageType.CON);
      raw.send(encode(emptyMessage(MessageType.ACK, response.messageId)), server.address());
      send(); // after the separate response
      await drive(clock, () => emptyAcks() === 3, 100);
      assert.is(emptyAcks(), 3, 'a duplicate after the separate response gets the empty ACK again');
      await drive(clock, () => false, 10_000);
      assert.is(runs, 1, 'the handler ran once');
      assert.equal(separate().map((m) => m.payload.toString()), ['run 1'], 'one separate response, never retransmitted once acknowledged');
    } finally {
      await server.close();
    }
  });
}

test('a GET answered piggybacked after a short wait is answered afresh when duplicated (safe requests stay relaxed, §4.5)', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(5), separateResponseDelayMs: SEPARATE_AFTER_MS });
  let runs = 0;
  server.router.add('/soon', {
    handlers: { GET: () => new Promise((resolve) => clock.setTimeout(() => resolve({ code: ResponseCode.Content, payload: `run ${++runs}` }), 10)) },
  });
  const raw = network.transport();
  const received: Message[] = [];
  raw.onDatagram((data) => received.push(decode(data)));
  const request = encode({
    type: MessageType.CON, code: Method.GET, messageId: 0x99, token: Buffer.from([1]), options: [stringOption(OptionNumber.UriPath, 'soon')], payload: Buffer.alloc(0),
  });
  try {
    raw.send(request, server.address());
    await drive(clock, () => received.length === 1, 1000);
    raw.send(request, server.address());
    await drive(clock, () => received.length === 2, 1000);
    assert.equal(received.map((m) => `${m.type} ${m.payload.toString()}`), [`${MessageType.ACK} run 1`, `${MessageType.ACK} run 2`]);
  } finally {
    await server.close();
  }
});

test.run();
