// The WebSocket transport (RFC 8323 §4) under a real Endpoint: signaling, requests through
// the router, Observe, and the bounds. The socket is a recording stand-in (the `ws`
// package's socket is exercised end to end in test/integration/dashboard.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber, stringOption, uintOption, type CoapOption } from '../../../src/protocol/options.js';
import { WebSocketTransport, type MessageSocket, type WebSocketLimits } from '../../../src/protocol/transport-websocket.js';
import { decodeFrame, encodeFrame, SignalCode, type FramedMessage } from '../../../src/protocol/ws-framing.js';
import { waitFor } from '../../helpers/wait.js';

class RecordingSocket implements MessageSocket {
  readonly sent: FramedMessage[] = [];
  bufferedAmount = 0;
  closedWith: number | undefined;
  send(data: Buffer): void {
    this.sent.push(decodeFrame(data));
  }
  close(code: number): void {
    this.closedWith = code;
  }
  /** Messages with this token (responses and notifications), or signals of this code. */
  on(token: string): FramedMessage[] {
    return this.sent.filter((message) => message.token.toString() === token && message.code >> 5 !== 7);
  }
  signals(code: number): FramedMessage[] {
    return this.sent.filter((message) => message.code === code);
  }
}

const EMPTY = Buffer.alloc(0);
const frame = (code: number, token: string, options: CoapOption[] = [], payload = EMPTY): Buffer =>
  encodeFrame({ code, token: Buffer.from(token), options, payload });
const csm = (maxMessageSize?: number): Buffer =>
  frame(SignalCode.CSM, '', maxMessageSize === undefined ? [] : [uintOption(2, maxMessageSize)]);
const get = (token: string, path: string, more: CoapOption[] = []): Buffer => frame(1, token, [stringOption(OptionNumber.UriPath, path), ...more]);

function world(limits: Partial<WebSocketLimits> = {}) {
  const transport = new WebSocketTransport({ limits });
  const endpoint = new Endpoint({ transport, wholePayloadBytes: (peer) => transport.wholePayloadBytes(peer) });
  let counter = 0;
  const held: (() => void)[] = [];
  endpoint.router.add('/hello', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `hello ${request.peer.identity}` }) } });
  endpoint.router.add('/big', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: Buffer.alloc(5000, 0x61) }) } });
  endpoint.router.add('/counter', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(counter) }) } });
  endpoint.router.add('/confirmed', { observable: 'confirmable', handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(counter) }) } });
  endpoint.router.add('/slow', { handlers: { GET: () => new Promise((resolve) => { held.push(() => resolve({ code: ResponseCode.Content })); }) } });
  const socket = new RecordingSocket();
  const connection = transport.attach(socket, '192.0.2.7', 'operator:alice');
  return { transport, endpoint, socket, connection, bump: () => { counter++; }, release: () => { for (const done of held.splice(0)) done(); } };
}

test('our CSM goes first, with Max-Message-Size and no Block-Wise-Transfer (RFC 8323 §5.3)', async () => {
  const { socket, endpoint } = world({ maxMessageSize: 65536 });
  assert.is(socket.sent.length, 1);
  assert.is(socket.sent[0]!.code, SignalCode.CSM);
  assert.is(getUintOption(socket.sent[0]!.options, 2), 65536);
  assert.not.ok(socket.sent[0]!.options.some((option) => option.number === 4));
  await endpoint.close();
});

test('a request before the client\'s CSM is aborted and the connection closed', async () => {
  const { socket, connection, endpoint } = world();
  connection.receive(get('a', 'hello'));
  assert.is(socket.signals(SignalCode.Abort).length, 1);
  assert.match(socket.signals(SignalCode.Abort)[0]!.payload.toString(), /first message must be a CSM/);
  assert.is(socket.closedWith, 1008);
  assert.is(socket.on('a').length, 0);
  await endpoint.close();
});

test('Ping gets a Pong on its token; a request is answered on its token, with the connection\'s identity', async () => {
  const { socket, connection, endpoint } = world();
  connection.receive(csm());
  connection.receive(frame(SignalCode.Ping, 'pp'));
  assert.equal(socket.signals(SignalCode.Pong).map((message) => message.token.toString()), ['pp']);
  connection.receive(get('t1', 'hello'));
  await waitFor('the answer', () => socket.on('t1').length === 1);
  assert.is(socket.on('t1')[0]!.code, ResponseCode.Content);
  assert.is(socket.on('t1')[0]!.payload.toString(), 'hello operator:alice');
  await endpoint.close();
});

test('a body larger than a block goes whole within the client\'s Max-Message-Size, block-wise beyond it', async () => {
  const roomy = world();
  roomy.connection.receive(csm(1 << 20));
  roomy.connection.receive(get('b', 'big'));
  await waitFor('the answer', () => roomy.socket.on('b').length === 1);
  assert.is(roomy.socket.on('b')[0]!.payload.length, 5000);
  assert.is(getUintOption(roomy.socket.on('b')[0]!.options, OptionNumber.Block2), undefined);
  await roomy.endpoint.close();
  // No Max-Message-Size: 1152 bytes (§5.3.1), so Block2.
  const tight = world();
  tight.connection.receive(csm());
  tight.connection.receive(get('b', 'big'));
  await waitFor('the answer', () => tight.socket.on('b').length === 1);
  assert.is(tight.socket.on('b')[0]!.payload.length, 1024);
  assert.ok(getUintOption(tight.socket.on('b')[0]!.options, OptionNumber.Block2) !== undefined);
  await tight.endpoint.close();
});

test('Observe: registration, notifications on the token, deregistration with Observe 1, and the connection\'s end drops the rest', async () => {
  const { socket, connection, endpoint, bump, transport } = world();
  connection.receive(csm());
  connection.receive(get('o1', 'counter', [uintOption(OptionNumber.Observe, 0)]));
  connection.receive(get('o2', 'confirmed', [uintOption(OptionNumber.Observe, 0)]));
  await waitFor('both registrations', () => endpoint.observers('/counter') === 1 && endpoint.observers('/confirmed') === 1);
  for (let round = 1; round <= 3; round++) {
    bump();
    endpoint.notify('/counter');
    endpoint.notify('/confirmed');
    // Every /confirmed notification is a CON to the message layer: without the
    // transport's acknowledgement the second would wait behind the first (NSTART 1).
    await waitFor(`notification ${round}`, () => socket.on('o1').length === round + 1 && socket.on('o2').length === round + 1);
  }
  assert.equal(socket.on('o1').map((message) => message.payload.toString()), ['0', '1', '2', '3']);
  assert.equal(socket.on('o2').map((message) => message.payload.toString()), ['0', '1', '2', '3']);
  assert.is(endpoint.messageLayer.sizes.outstanding, 0, 'no CON waits for an ACK');
  assert.ok(socket.on('o1').every((message) => getUintOption(message.options, OptionNumber.Observe) !== undefined));
  connection.receive(get('o1', 'counter', [uintOption(OptionNumber.Observe, 1)]));
  await waitFor('deregistration', () => endpoint.observers('/counter') === 0);
  connection.closed();
  assert.is(endpoint.observers('/confirmed'), 0);
  assert.is(transport.connections, 0);
  await endpoint.close();
});

test('Release and Abort from the client close the connection', async () => {
  for (const code of [SignalCode.Release, SignalCode.Abort]) {
    const { socket, connection, endpoint, transport } = world();
    connection.receive(csm());
    connection.receive(frame(code, ''));
    assert.is(socket.closedWith, 1000);
    assert.is(transport.connections, 0);
    await endpoint.close();
  }
});

test('the gateway stopping sends Release (RFC 8323 §5.5)', async () => {
  const { socket, connection, endpoint } = world();
  connection.receive(csm());
  await endpoint.close();
  assert.is(socket.signals(SignalCode.Release).length, 1);
  assert.is(socket.closedWith, 1001);
});

test('a message over our Max-Message-Size, a malformed one, a text message and an unknown critical CSM option are aborted', async () => {
  const cases: [string, (receive: (data: Buffer, binary?: boolean) => void) => void, RegExp][] = [
    ['oversized', (receive) => receive(frame(3, 'p', [stringOption(OptionNumber.UriPath, 'hello')], Buffer.alloc(2000))), /exceeds the Max-Message-Size of 1024/],
    ['malformed', (receive) => receive(Buffer.from('4045', 'hex')), /malformed/],
    ['text', (receive) => receive(Buffer.from('hi'), false), /text messages/],
  ];
  for (const [name, send, pattern] of cases) {
    const { socket, connection, endpoint } = world({ maxMessageSize: 1024 });
    connection.receive(csm());
    send((data, binary) => connection.receive(data, binary));
    assert.match(socket.signals(SignalCode.Abort)[0]?.payload.toString() ?? '', pattern, name);
    assert.is(socket.closedWith, 1008, name);
    await endpoint.close();
  }
  const { socket, connection, endpoint } = world();
  connection.receive(frame(SignalCode.CSM, '', [{ number: 9, value: EMPTY }]));
  assert.is(getUintOption(socket.signals(SignalCode.Abort)[0]!.options, 2), 9, 'Bad-CSM-Option names it');
  await endpoint.close();
});

test('requests in flight past the bound get 5.03; observations past the bound are served as plain GETs', async () => {
  const { socket, connection, endpoint, release } = world({ pendingRequests: 2, observations: 1 });
  connection.receive(csm());
  connection.receive(get('s1', 'slow'));
  connection.receive(get('s2', 'slow'));
  connection.receive(get('s3', 'slow'));
  assert.is(socket.on('s3')[0]?.code, ResponseCode.ServiceUnavailable);
  release();
  await waitFor('the held answers', () => socket.on('s1').length === 1 && socket.on('s2').length === 1);
  connection.receive(get('o1', 'counter', [uintOption(OptionNumber.Observe, 0)]));
  await waitFor('the first registration', () => socket.on('o1').length === 1);
  connection.receive(get('o2', 'counter', [uintOption(OptionNumber.Observe, 0)]));
  await waitFor('the second answer', () => socket.on('o2').length === 1);
  assert.ok(getUintOption(socket.on('o1')[0]!.options, OptionNumber.Observe) !== undefined);
  assert.is(getUintOption(socket.on('o2')[0]!.options, OptionNumber.Observe), undefined);
  assert.is(endpoint.observers('/counter'), 1);
  await endpoint.close();
});

test('a client that reads too slowly (bytes queued past the bound) is aborted', async () => {
  const { socket, connection, endpoint, transport } = world({ queuedBytes: 4096 });
  connection.receive(csm());
  socket.bufferedAmount = 4090;
  connection.receive(get('h', 'hello'));
  await waitFor('the abort', () => socket.signals(SignalCode.Abort).length === 1);
  assert.match(socket.signals(SignalCode.Abort)[0]!.payload.toString(), /reads too slowly/);
  assert.is(socket.on('h').length, 0);
  assert.is(transport.connections, 0);
  await endpoint.close();
});

test('bytes queued for all clients together are bounded too: past the total the slowest reader is aborted', async () => {
  const { socket, connection, endpoint, transport } = world({ queuedBytes: 8192, totalQueuedBytes: 6000 });
  connection.receive(csm());
  const other = new RecordingSocket();
  const second = transport.attach(other, '192.0.2.8', 'operator:bob');
  second.receive(csm());
  other.bufferedAmount = 5990;
  connection.receive(get('h', 'hello'));
  await waitFor('the answer', () => socket.on('h').length === 1);
  assert.match(other.signals(SignalCode.Abort)[0]?.payload.toString() ?? '', /for all clients, most of them for this one/);
  assert.is(other.closedWith, 1008);
  assert.is(socket.signals(SignalCode.Abort).length, 0, 'the one asking is answered');
  await endpoint.close();
});

test.run();
