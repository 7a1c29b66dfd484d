// A hostile peer against the server's Block-wise (RFC 7959) and Observe (RFC 7641) state:
// block numbers at the edge of the 20-bit space, uploads started and abandoned, more
// concurrent uploads than allowed, and a thousand Observe registrations from one address.
// The peer is a raw UDP socket sending encoded messages, so nothing in our client smooths
// them; the server is an in-process Endpoint on loopback.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { blockOption, MAX_BLOCK_NUMBER, type BlockValue } from '../../src/protocol/block.js';
import type { BodySource } from '../../src/protocol/body.js';
import { decode, encode } from '../../src/protocol/codec.js';
import { formatCode, Method, ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint, type EndpointOptions } from '../../src/protocol/endpoint.js';
import type { Logger } from '../../src/protocol/interfaces.js';
import { MessageType, type Message } from '../../src/protocol/message.js';
import { DEFAULT_OBSERVE_LIMITS } from '../../src/protocol/observe-server.js';
import { getUintOption, hasOption, opaqueOption, OptionNumber, stringOption, uintOption, type CoapOption } from '../../src/protocol/options.js';
import type { UploadSink } from '../../src/protocol/server-types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => { gc(); gc(); return process.memoryUsage().heapUsed; };

const LOOPBACK = '127.0.0.1';
const RESPONSE_TIMEOUT_MS = 5_000;
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`'s value, or undefined after `ms`; the timer goes either way. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** A peer that speaks CoAP by hand: each request gets a fresh message ID and an 8-byte
 * token, and its response is matched by token. Anything else the server sends (Observe
 * notifications) is counted and left unanswered. */
class RawPeer {
  readonly #socket: Socket;
  readonly #target: number;
  /** Requests waiting for their response, by token; removed when it arrives or times out. */
  readonly #waiting = new Map<string, (message: Message) => void>();
  #next = 1;
  unsolicited = 0;

  private constructor(socket: Socket, target: number) {
    this.#socket = socket;
    this.#target = target;
    socket.on('message', (bytes) => this.#receive(bytes));
  }

  static async open(targetPort: number): Promise<RawPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, LOOPBACK, () => resolve());
    });
    return new RawPeer(socket, targetPort);
  }

  /** Sends a CON request and resolves with the response that carries its token. */
  request(code: number, options: readonly CoapOption[], payload: Buffer = Buffer.alloc(0)): Promise<Message> {
    const sequence = this.#next++;
    const token = Buffer.alloc(8);
    token.writeUInt32BE(sequence, 4);
    const key = token.toString('hex');
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`no response to request ${sequence} within ${RESPONSE_TIMEOUT_MS} ms`));
      }, RESPONSE_TIMEOUT_MS);
      this.#waiting.set(key, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.#socket.send(encode({ type: MessageType.CON, code, messageId: sequence & 0xffff, token, options, payload }), this.#target, LOOPBACK);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #receive(bytes: Buffer): void {
    let message: Message;
    try {
      message = decode(bytes);
    } catch {
      return;
    }
    // A separate response comes as CON: acknowledge it (RFC 7252 §5.2.2).
    if (message.type === MessageType.CON) {
      this.#socket.send(encode({ type: MessageType.ACK, code: 0, messageId: message.messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }), this.#target, LOOPBACK);
    }
    if (message.code === 0) return;
    const deliver = this.#waiting.get(message.token.toString('hex'));
    if (deliver === undefined) {
      this.unsolicited++;
      return;
    }
    this.#waiting.delete(message.token.toString('hex'));
    deliver(message);
  }
}

/** Fails the test on any warn or error the server logs: abuse is answered, not logged as a fault. */
function recordingLogger(): Logger & { readonly problems: string[] } {
  const problems: string[] = [];
  const record = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    problems.push(`${level}: ${message ?? ''} ${JSON.stringify(objectOrMessage)}`);
  };
  return { debug: () => {}, info: () => {}, warn: record('warn'), error: record('error'), problems };
}

async function withServer(
  options: Omit<EndpointOptions, 'transport'>, body: (server: Endpoint, peer: RawPeer) => Promise<void>,
): Promise<void> {
  const logger = recordingLogger();
  const server = await Endpoint.udp({ host: LOOPBACK, port: 0 }, { ...options, logger });
  const peer = await RawPeer.open(server.address().port);
  try {
    await body(server, peer);
  } finally {
    await peer.close();
    await server.close();
  }
  assert.equal(logger.problems, [], 'the server logged no warning or error');
}

const path = (resource: string): CoapOption[] =>
  resource.split('/').filter((segment) => segment !== '').map((segment) => stringOption(OptionNumber.UriPath, segment));

/** One block of a PUT: Uri-Path, Block1 and a Request-Tag that names the upload. */
function putBlock(peer: RawPeer, resource: string, tag: number, block: BlockValue, payload: Buffer): Promise<Message> {
  return peer.request(Method.PUT, [
    ...path(resource), blockOption(OptionNumber.Block1, block), opaqueOption(OptionNumber.RequestTag, Buffer.from([tag])),
  ], payload);
}

const code = (message: Message): string => formatCode(message.code);
const BLOCK_SIZE = 1024;
const SIZE_EXPONENT = 6;
const more = (num: number): BlockValue => ({ num, moreBlocks: true, sizeExponent: SIZE_EXPONENT });
const last = (num: number): BlockValue => ({ num, moreBlocks: false, sizeExponent: SIZE_EXPONENT });
const chunk = (fill: number): Buffer => Buffer.alloc(BLOCK_SIZE, fill);

test('Block1 NUM 0xFFFFF is 4.13 past the resource limit and 4.08 within it, and takes no upload slot', () => withServer({}, async (server, peer) => {
  server.router.add('/upload', { handlers: { PUT: () => ({ code: ResponseCode.Changed }) } });
  server.router.add('/roomy', { handlers: { PUT: () => ({ code: ResponseCode.Changed }) }, upload: { maxSize: 2 ** 31 } });

  for (let tag = 0; tag < 10; tag++) {
    const refused = await putBlock(peer, '/upload', tag, more(MAX_BLOCK_NUMBER), chunk(1));
    assert.is(code(refused), formatCode(ResponseCode.RequestEntityTooLarge), 'past the 64 KiB default: 4.13');
    assert.is(getUintOption(refused.options, OptionNumber.Size1), 64 * 1024, 'with Size1 naming the limit');
    // Under a 2 GiB limit the offset (1 GiB) is allowed, but no upload reached it: 4.08.
    for (const block of [more(MAX_BLOCK_NUMBER), last(MAX_BLOCK_NUMBER)]) {
      assert.is(code(await putBlock(peer, '/roomy', tag, block, chunk(2))), formatCode(ResponseCode.RequestEntityIncomplete));
    }
  }
  // SZX 7 is reserved (§2.2): 4.00.
  const reserved = await peer.request(Method.PUT, [...path('/roomy'), { number: OptionNumber.Block1, value: Buffer.from([0x0f]) }], chunk(3));
  assert.is(code(reserved), formatCode(ResponseCode.BadRequest));

  // Had any of those started an upload, the per-peer limit (4) would refuse these.
  for (let tag = 20; tag < 24; tag++) {
    assert.is(code(await putBlock(peer, '/roomy', tag, more(0), chunk(4))), formatCode(ResponseCode.Continue), `upload ${tag} starts`);
  }
}));

test('Block2 NUM 0xFFFFF is 4.02 and reads nothing from the body source', () => withServer({}, async (server, peer) => {
  const reads: number[] = [];
  const body: BodySource = { size: 10_000, read: (offset, length) => { reads.push(offset); return Buffer.alloc(Math.min(length, 10_000 - offset), 7); } };
  server.router.add('/file', { handlers: { GET: () => ({ code: ResponseCode.Content, body }) } });
  const response = await peer.request(Method.GET, [...path('/file'), blockOption(OptionNumber.Block2, last(MAX_BLOCK_NUMBER))]);
  assert.is(code(response), formatCode(ResponseCode.BadOption));
  assert.equal(reads, [], 'no read past the end');
  const first = await peer.request(Method.GET, [...path('/file'), blockOption(OptionNumber.Block2, last(0))]);
  assert.is(code(first), formatCode(ResponseCode.Content), 'block 0 is still served');
  assert.is(first.payload.length, BLOCK_SIZE);
}));

test('a fifth concurrent upload from one peer is 5.03; abandoned uploads are dropped after the idle timeout, their sinks aborted', () => withServer({ block1Limits: { idleTimeoutMs: 500 } }, async (server, peer) => {
  const aborted: number[] = [];
  let written = 0;
  let completed: Buffer | undefined;
  let sinks = 0;
  server.router.add('/sink', {
    handlers: {
      PUT: (request) => {
        completed = request.upload === undefined ? request.payload : Buffer.from('sink');
        return { code: ResponseCode.Changed };
      },
    },
    upload: {
      maxSize: 64 * BLOCK_SIZE,
      createSink: (): UploadSink => {
        const id = ++sinks;
        return { write: (data) => { written += data.length; }, abort: () => { aborted.push(id); } };
      },
    },
  });

  for (let tag = 1; tag <= 4; tag++) {
    assert.is(code(await putBlock(peer, '/sink', tag, more(0), chunk(tag))), formatCode(ResponseCode.Continue), `upload ${tag}: block 0`);
    assert.is(code(await putBlock(peer, '/sink', tag, more(1), chunk(tag))), formatCode(ResponseCode.Continue), `upload ${tag}: block 1`);
  }
  const fifth = await putBlock(peer, '/sink', 5, more(0), chunk(5));
  assert.is(code(fifth), formatCode(ResponseCode.ServiceUnavailable), 'the per-peer limit of 4');
  assert.ok(getUintOption(fifth.options, OptionNumber.MaxAge) !== undefined, 'with Max-Age saying when to retry');
  assert.is(sinks, 4, 'no sink for the refused upload');
  assert.is(written, 8 * BLOCK_SIZE);

  // The sweep runs every idleTimeoutMs / 2 and drops uploads idle for idleTimeoutMs.
  for (let waited = 0; waited < 3_000 && aborted.length < 4; waited += 100) await wait(100);
  assert.equal([...aborted].sort(), [1, 2, 3, 4], 'every abandoned upload was aborted');
  const late = await putBlock(peer, '/sink', 1, more(2), chunk(1));
  assert.is(code(late), formatCode(ResponseCode.RequestEntityIncomplete), 'a block of a forgotten upload is 4.08');

  // The slots are free again: a whole upload goes through.
  assert.is(code(await putBlock(peer, '/sink', 6, more(0), chunk(6))), formatCode(ResponseCode.Continue));
  const done = await putBlock(peer, '/sink', 6, last(1), Buffer.alloc(10, 6));
  assert.is(code(done), formatCode(ResponseCode.Changed));
  assert.ok(completed !== undefined, 'the handler ran once the last block was in');
  assert.equal(aborted.length, 4, 'the finished upload was not aborted');
}));

test('1,000 Observe registrations from one peer: at most perPeer registered, the rest plain GETs; another peer is still served', () => withServer({}, async (server, peer) => {
  const RESOURCES = ['/o0', '/o1', '/o2', '/o3'];
  let state = 0;
  for (const resource of RESOURCES) {
    server.router.add(resource, {
      observable: true, attributes: [{ name: 'obs' }],
      handlers: { GET: () => ({ code: ResponseCode.Content, payload: `${resource} ${state}` }) },
    });
  }
  const before = heapAfterGc();

  const REGISTRATIONS = 1_000;
  const BURST = 100;
  const responses: Message[] = [];
  for (let sent = 0; sent < REGISTRATIONS; sent += BURST) {
    // Bursts, each answered before the next, so the socket buffers never overflow.
    const burst = Array.from({ length: BURST }, (_, i) =>
      peer.request(Method.GET, [uintOption(OptionNumber.Observe, 0), ...path(RESOURCES[(sent + i) % RESOURCES.length]!)]));
    responses.push(...await Promise.all(burst));
  }
  assert.is(responses.length, REGISTRATIONS);
  assert.ok(responses.every((response) => response.code === ResponseCode.Content), 'every registration answered 2.05');
  const registered = responses.filter((response) => hasOption(response.options, OptionNumber.Observe)).length;
  const { perPeer } = DEFAULT_OBSERVE_LIMITS;
  assert.is(registered, perPeer, `${perPeer} answers carry Observe, the rest are plain GETs`);
  const observers = RESOURCES.reduce((sum, resource) => sum + server.observers(resource), 0);
  assert.is(observers, perPeer, 'and exactly that many are registered');

  const grown = heapAfterGc() - before;
  assert.ok(grown < 8 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);

  // Another peer registers and gets the change.
  const other = await Endpoint.udp({ host: LOOPBACK, port: 0 });
  try {
    const { observation, first } = await other.observe({ uri: `coap://${LOOPBACK}:${server.address().port}/o0` });
    assert.ok(getUintOption(first.options, OptionNumber.Observe) !== undefined, 'the other peer is registered');
    assert.is(server.observers('/o0'), perPeer / RESOURCES.length + 1);
    state = 1;
    server.notify('/o0');
    const next = await within(observation[Symbol.asyncIterator]().next(), RESPONSE_TIMEOUT_MS);
    assert.is(next?.done === false ? next.value.payload.toString() : 'no notification', '/o0 1');
    await observation.cancel();
  } finally {
    await other.close();
  }
  // The flooding peer's registrations on /o0 were notified too (NON, left unanswered).
  for (let waited = 0; waited < 2_000 && peer.unsolicited < perPeer / RESOURCES.length; waited += 50) await wait(50);
  assert.is(peer.unsolicited, perPeer / RESOURCES.length);
}));

test.run();
