// Q-Block2 between two of our endpoints on a virtual clock and an in-memory link: bursts,
// the datagrams on the wire, fallback to Block2 against a server without it, the peer
// remembered, CON requests, an ETag change, resume, and the server's state.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bufferBody } from '../../../src/protocol/body.js';
import { memorySink } from '../../../src/protocol/block-client.js';
import { blockOption, decodeBlock } from '../../../src/protocol/block.js';
import { decode } from '../../../src/protocol/codec.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { BlockTransferError } from '../../../src/protocol/errors.js';
import { Endpoint, type EndpointOptions } from '../../../src/protocol/endpoint.js';
import type { Transport } from '../../../src/protocol/interfaces.js';
import { MessageType, type Message } from '../../../src/protocol/message.js';
import { decodeUint, getOption, getOptions, OptionNumber, type CoapOption } from '../../../src/protocol/options.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import type { TransferTuner } from '../../../src/protocol/transfer-tuner.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { advanceBy, settle } from '../../helpers/virtual-world.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

/** Records every datagram a transport sends, decoded. */
function recording(inner: Transport, sent: Message[]): Transport {
  return {
    scheme: inner.scheme,
    address: () => inner.address(),
    send: (data, peer) => { sent.push(decode(data)); inner.send(data, peer); },
    onDatagram: (handler) => inner.onDatagram(handler),
    close: () => inner.close(),
  };
}

function world(server: Partial<EndpointOptions> = {}) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const serverSent: Message[] = [];
  const clientSent: Message[] = [];
  const serverEndpoint = new Endpoint({ ...server, transport: recording(network.transport(), serverSent), clock, random: new SeededRandom(1) });
  const client = new Endpoint({ transport: recording(network.transport(), clientSent), clock, random: new SeededRandom(2) });
  return {
    clock, server: serverEndpoint, client, serverSent, clientSent,
    close: () => Promise.all([serverEndpoint.close(), client.close()]),
  };
}

const qblocks = (message: Message) => getOptions(message.options, OptionNumber.QBlock2).map((value) => decodeBlock(decodeUint(value)));
const body = new SeededRandom(7).bytes(10_000);

test('a download asks with Q-Block2, first one block with CON, then windows with NON, and gets Q-Block2 responses with ETag and Size2', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const sink = memorySink();
  const result = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, qblock: {} }), 'download');
  assert.is(result.size, body.length);
  assert.ok(sink.body().equals(body));
  assert.is(result.etag?.toString(), 'v1');
  const requests = w.clientSent.filter((message) => message.code === 1);
  // 10 blocks of 1024 bytes: block 0 with CON (a server without Q-Block2 would answer
  // 4.02), then the other 9 in one window of up to 10 (MAX_PAYLOADS).
  assert.is(requests.length, 2);
  assert.is(requests[0]!.type, MessageType.CON);
  assert.equal(qblocks(requests[0]!).map((block) => block.num), [0]);
  assert.is(requests[1]!.type, MessageType.NON);
  assert.equal(qblocks(requests[1]!).map((block) => block.num), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const responses = w.serverSent.filter((message) => message.code === ResponseCode.Content);
  assert.is(responses.length, 10);
  assert.is(responses[0]!.type, MessageType.ACK);
  for (const [index, response] of responses.entries()) {
    if (index > 0) assert.is(response.type, MessageType.NON);
    assert.ok(response.token.equals(requests[index === 0 ? 0 : 1]!.token), 'every response on its request token (RFC 9177 §6)');
    assert.is(qblocks(response)[0]!.num, index);
    assert.is(qblocks(response)[0]!.moreBlocks, index < 9);
    assert.is(getOption(response.options, OptionNumber.ETag)?.toString(), 'v1');
    assert.is(decodeUint(getOption(response.options, OptionNumber.Size2)!), body.length);
  }
  assert.is(w.server.qblock2Stats().transfers, 1);
  await w.close();
});

test('a server without Q-Block2 answers 4.02; the download goes on with Block2 and the next one starts with Block2', async () => {
  const w = world({ qblock2: { enabled: false } });
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const first = memorySink();
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink: first, qblock: {} }), 'first download');
  assert.ok(first.body().equals(body));
  const withQBlock2 = w.clientSent.filter((message) => qblocks(message).length > 0).length;
  assert.is(withQBlock2, 1, 'one Q-Block2 request, then Block2');
  assert.ok(w.serverSent.some((message) => message.code === ResponseCode.BadOption));
  const second = memorySink();
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink: second, qblock: {} }), 'second download');
  assert.ok(second.body().equals(body));
  assert.is(w.clientSent.filter((message) => qblocks(message).length > 0).length, 1, 'the peer was remembered');
  await w.close();
});

test('a small body comes back whole, without Q-Block2', async () => {
  const w = world();
  w.server.router.add('/small', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'hello' }) } });
  const sink = memorySink();
  const result = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/small', sink, qblock: {} }), 'download');
  assert.is(sink.body().toString(), 'hello');
  assert.is(result.size, 5);
  await w.close();
});

test('a tuner sizes each request: its block size and window are what goes on the wire, and it hears of each window', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const samples: { asked: number; received: number }[] = [];
  const tuner: TransferTuner = {
    next: () => ({ sizeExponent: 4, window: 3 }),
    observe: (sample) => { samples.push(sample); },
    stats: { blockSize: 256, window: 3, rttMs: undefined, loss: 0 },
  };
  const sink = memorySink();
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, qblock: { tuner } }), 'download');
  assert.ok(sink.body().equals(body));
  const requests = w.clientSent.filter((message) => message.code === 1);
  // 10,000 bytes in 256-byte blocks: 40 blocks, the first alone, then 3 per request.
  assert.is(requests.length, 14);
  for (const request of requests) assert.ok(qblocks(request).every((block) => block.sizeExponent === 4));
  assert.equal(qblocks(requests[1]!).map((block) => block.num), [1, 2, 3]);
  assert.is(samples.length, 14);
  assert.ok(samples.slice(1).every((sample) => sample.asked === 3 && sample.received === 3));
  await w.close();
});

test('a resumed download asks from its offset and writes only the rest', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const writes: number[] = [];
  const chunks: Buffer[] = [];
  const sink = { write: (chunk: Buffer, offset: number) => { writes.push(offset); chunks.push(Buffer.from(chunk)); }, reset: () => { throw new Error('no reset expected'); } };
  const result = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, startOffset: 5000, etag: Buffer.from('v1'), qblock: {} }), 'download');
  assert.is(result.size, body.length);
  assert.is(writes[0], 4096);
  assert.ok(Buffer.concat(chunks).equals(body.subarray(4096)));
  await w.close();
});

test('a changed ETag resets the sink and the download starts over', async () => {
  const w = world();
  let version = 1;
  const other = new SeededRandom(9).bytes(6000);
  w.server.router.add('/image', { handlers: { GET: () => (version === 1
    ? { code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }
    : { code: ResponseCode.Content, body: bufferBody(other), etag: Buffer.from('v2') }) } });
  let resets = 0;
  const inner = memorySink();
  const sink = { write: (chunk: Buffer, offset: number) => inner.write(chunk, offset), reset: () => { resets++; inner.reset(); } };
  version = 2;
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, startOffset: 2048, etag: Buffer.from('v1'), qblock: {} }), 'download');
  assert.is(resets, 1);
  assert.ok(inner.body().equals(other));
  await w.close();
});

test('with confirmable set, each request is CON and gets its first block in the ACK, the rest as CONs', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const sink = memorySink();
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, confirmable: true, qblock: {} }), 'download');
  assert.ok(sink.body().equals(body));
  const requests = w.clientSent.filter((message) => message.code === 1);
  assert.ok(requests.every((message) => message.type === MessageType.CON));
  const responses = w.serverSent.filter((message) => message.code === ResponseCode.Content);
  assert.is(responses.length, 10);
  assert.is(responses.filter((message) => message.type === MessageType.ACK).length, requests.length);
  assert.is(responses.filter((message) => message.type === MessageType.CON).length, 10 - requests.length);
  await w.close();
});


/** A NON GET of `/image` carrying `options`, sent raw from the client's message layer. */
function rawGet(w: ReturnType<typeof world>, options: CoapOption[], token = Buffer.from('t1')): void {
  w.client.messageLayer.sendNonConfirmable(w.server.address(), {
    code: 1, token, options: [{ number: OptionNumber.UriPath, value: Buffer.from('image') }, ...options], payload: Buffer.alloc(0),
  });
}

const big = new SeededRandom(8).bytes(35 * 1024);

test('M set with NUM 0 gets the body in sets of MAX_PAYLOADS, NON_TIMEOUT apart; a Continue brings the next set at once (§7.2)', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(big), etag: Buffer.from('v1') }) } });
  const sentAt = new Map<number, number>();
  const blocksSent = () => w.serverSent.filter((message) => message.code === ResponseCode.Content).map((message) => qblocks(message)[0]!.num);
  rawGet(w, [blockOption(OptionNumber.QBlock2, { num: 0, moreBlocks: true, sizeExponent: 6 })]);
  await advanceBy(w.clock, 100, 5);
  assert.equal(blocksSent(), range(0, 9), 'the first set only');
  for (const num of blocksSent()) sentAt.set(num, w.clock.now());
  // NON_TIMEOUT is ACK_TIMEOUT (2 s), dithered up to 1.5 times.
  await advanceBy(w.clock, 1800, 50);
  assert.is(blocksSent().length, 10, 'nothing before NON_TIMEOUT');
  await advanceBy(w.clock, 1300, 50);
  assert.equal(blocksSent(), range(0, 19), 'the second set after the pause');
  rawGet(w, [blockOption(OptionNumber.QBlock2, { num: 20, moreBlocks: true, sizeExponent: 6 })], Buffer.from('t2'));
  await advanceBy(w.clock, 100, 5);
  assert.equal(blocksSent(), range(0, 29), 'a Continue: the third set at once');
  await advanceBy(w.clock, 3100, 50);
  assert.equal(blocksSent(), range(0, 34), 'the last set, and nothing after the end');
  const continued = w.serverSent.filter((message) => message.code === ResponseCode.Content && message.token.toString() === 't2');
  assert.is(continued.length, 15, 'the sets after a Continue go on its token');
  await w.close();
});

test('sets sent by themselves stop after NON_MAX_RETRANSMIT with no word from the client', async () => {
  const w = world();
  const huge = new SeededRandom(8).bytes(200 * 1024);
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(huge), etag: Buffer.from('v1') }) } });
  rawGet(w, [blockOption(OptionNumber.QBlock2, { num: 0, moreBlocks: true, sizeExponent: 6 })]);
  await advanceBy(w.clock, 60_000, 500);
  const sent = w.serverSent.filter((message) => message.code === ResponseCode.Content).length;
  assert.is(sent, 10 + 4 * 10, 'the asked set and 4 more, of 200 blocks');
  assert.is(w.server.qblock2Stats().sending, 0);
  await w.close();
});

test('Q-Block2 with Block2 is a bad request; with Observe, or with a method other than GET, an unrecognised option', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(big), etag: Buffer.from('v1') }), POST: () => ({ code: ResponseCode.Changed }) }, observable: true });
  const codes = () => w.serverSent.filter((message) => message.code >= 0x80).map((message) => message.code);
  rawGet(w, [blockOption(OptionNumber.Block2, { num: 0, moreBlocks: false, sizeExponent: 6 }), blockOption(OptionNumber.QBlock2, { num: 0, moreBlocks: false, sizeExponent: 6 })]);
  rawGet(w, [{ number: OptionNumber.Observe, value: Buffer.alloc(0) }, blockOption(OptionNumber.QBlock2, { num: 0, moreBlocks: false, sizeExponent: 6 })], Buffer.from('t2'));
  w.client.messageLayer.sendNonConfirmable(w.server.address(), {
    code: 2, token: Buffer.from('t3'), payload: Buffer.alloc(0),
    options: [{ number: OptionNumber.UriPath, value: Buffer.from('image') }, blockOption(OptionNumber.QBlock2, { num: 0, moreBlocks: false, sizeExponent: 6 })],
  });
  await advanceBy(w.clock, 50, 5);
  assert.equal(codes(), [ResponseCode.BadRequest, ResponseCode.BadOption, ResponseCode.BadOption]);
  await w.close();
});

test('a file-like body without ETag is answered with Block2, and the download follows it lock-step', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(big) }) } });
  const sink = memorySink();
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, qblock: {} }), 'download');
  assert.ok(sink.body().equals(big));
  assert.ok(w.serverSent.filter((message) => message.code === ResponseCode.Content).every((message) => qblocks(message).length === 0));
  await w.close();
});

test('the handler runs once per transfer: later windows are cut from the representation it kept', async () => {
  const w = world();
  let runs = 0;
  w.server.router.add('/image', { handlers: { GET: () => { runs++; return { code: ResponseCode.Content, payload: big }; } } });
  const sink = memorySink();
  const result = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, qblock: {} }), 'download');
  assert.ok(sink.body().equals(big));
  assert.is(runs, 1);
  assert.is(result.etag?.length, 8, 'an ETag made from the payload');
  assert.is(w.server.qblock2Stats().bytesHeld, big.length);
  await advanceBy(w.clock, 61_000, 1000);
  assert.equal(w.server.qblock2Stats(), { transfers: 0, peers: 0, bytesHeld: 0, sending: 0 }, 'forgotten when idle');
  await w.close();
});

test('a server that goes silent ends the download with a timeout, not a hang', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => new Promise<never>(() => {}) } });
  const outcome = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink: memorySink(), qblock: {}, blockRetries: 0 })
    .then(() => 'resolved', (error: Error) => error.name), 'download', 3600_000);
  assert.is(outcome, 'RequestTimeoutError');
  await w.close();
});


test('a block lost from a burst is asked for again, first, soon after the burst ends: no NON_RECEIVE_TIMEOUT wait', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const inner = network.transport();
  let dropped = 0;
  const lossy: Transport = {
    scheme: inner.scheme, address: () => inner.address(), onDatagram: (handler) => inner.onDatagram(handler), close: () => inner.close(),
    send: (data, peer) => {
      const message = decode(data);
      // The first copy of block 3 (and only it) is lost.
      if (dropped === 0 && qblocks(message)[0]?.num === 3) {
        dropped++;
        return;
      }
      inner.send(data, peer);
    },
  };
  const clientSent: Message[] = [];
  const server = new Endpoint({ transport: lossy, clock, random: new SeededRandom(1) });
  const client = new Endpoint({ transport: recording(network.transport(), clientSent), clock, random: new SeededRandom(2) });
  server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const sink = memorySink();
  await settle(clock, client.download({ peer: server.address(), path: '/image', sink, qblock: {} }), 'download');
  assert.ok(sink.body().equals(body));
  assert.is(dropped, 1);
  const requests = clientSent.filter((message) => message.code === 1);
  assert.is(requests.length, 3);
  assert.equal(qblocks(requests[2]!).map((block) => block.num), [3]);
  assert.ok(clock.now() < 1000, `done at ${clock.now()} ms: the hole was asked for within a few round trips`);
  await Promise.all([server.close(), client.close()]);
});


test('an aborted download rejects with CancelledError and leaves no timer of its own', async () => {
  const w = world();
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(big), etag: Buffer.from('v1') }) } });
  const controller = new AbortController();
  let writes = 0;
  const sink = { write: () => { if (++writes === 3) controller.abort(); }, reset: () => {} };
  const outcome = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, qblock: {}, signal: controller.signal })
    .then(() => 'resolved', (error: Error) => error.name), 'download');
  assert.is(outcome, 'CancelledError');
  assert.ok(writes < 35, 'it stopped early');
  await w.close();
  await advanceBy(w.clock, 10, 1);
  assert.is(w.clock.pendingTimers, 0, 'no timer left after close');
});


test('a file-like body runs the handler for every request: a resource removed mid-download ends it with the 4.04', async () => {
  const w = world();
  let runs = 0;
  w.server.router.add('/image', { handlers: { GET: () => (++runs <= 2
    ? { code: ResponseCode.Content, body: bufferBody(big), etag: Buffer.from('v1') }
    : { code: ResponseCode.NotFound }) } });
  const outcome = await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink: memorySink(), qblock: {} })
    .then(() => undefined, (error: BlockTransferError) => error), 'download');
  assert.instance(outcome, BlockTransferError);
  assert.is(outcome!.responseCode, ResponseCode.NotFound);
  assert.is(runs, 3, 'the probe, one window, then the refusal');
  await w.close();
});


test('a server sending smaller blocks than asked is followed: the same bytes in more blocks, then asked at its size', async () => {
  const w = world({ maxBlockSizeExponent: 4 });
  w.server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
  const sink = memorySink();
  await settle(w.clock, w.client.download({ peer: w.server.address(), path: '/image', sink, qblock: {} }), 'download');
  assert.ok(sink.body().equals(body));
  const requests = w.clientSent.filter((message) => message.code === 1);
  assert.is(qblocks(requests[0]!)[0]!.sizeExponent, 6, 'asked with 1024-byte blocks');
  assert.ok(requests.slice(1).every((request) => qblocks(request).every((block) => block.sizeExponent === 4)), 'then at the 256 bytes the server sends');
  assert.ok(w.serverSent.filter((message) => message.code === ResponseCode.Content).every((message) => qblocks(message)[0]!.sizeExponent === 4));
  await w.close();
});

test.run();
