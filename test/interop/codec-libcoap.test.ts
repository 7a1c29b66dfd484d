// The codec against libcoap on loopback: what coap-client puts on the wire decodes field by
// field (RFC 7252 §3, §6.4; RFC 7641 §2; RFC 7959 §2.2), and what we encode is what
// coap-server answers and coap-client understands. Each peer process is killed in `finally`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { blockOption, readBlockOption } from '../../src/protocol/block.js';
import { decode, encode } from '../../src/protocol/codec.js';
import { Method, ResponseCode, formatCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { EMPTY_BUFFER, MessageType, emptyMessage, type Message } from '../../src/protocol/message.js';
import { OptionNumber, getOption, getStringOptions, getUintOption, stringOption, uintOption } from '../../src/protocol/options.js';

const LOOPBACK = '127.0.0.1';
const DATAGRAM_TIMEOUT_MS = 5_000;
const EXIT_TIMEOUT_MS = 3_000;

function requireLibcoap(command: string): void {
  const found = (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) assert.unreachable(`${command} is not on PATH: apt-get install libcoap3-bin`);
}

interface Datagram {
  readonly bytes: Buffer;
  readonly from: RemoteInfo;
}

/** Every datagram the socket receives, queued until asked for, so none is lost between waits. */
class Inbox {
  readonly #queue: Datagram[] = [];
  #waiter: ((datagram: Datagram) => void) | undefined;

  constructor(socket: Socket) {
    socket.on('message', (bytes, from) => {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter === undefined) this.#queue.push({ bytes, from });
      else waiter({ bytes, from });
    });
  }

  next(timeoutMs: number, what: string): Promise<Datagram> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = (datagram) => {
        clearTimeout(timer);
        resolve(datagram);
      };
    });
  }
}

function bindLoopback(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, LOOPBACK, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

const closeSocket = (socket: Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

/** A UDP port free a moment ago; the caller retries if someone takes it in between. */
async function freeUdpPort(): Promise<number> {
  const socket = await bindLoopback();
  const { port } = socket.address();
  await closeSocket(socket);
  return port;
}

interface Peer {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (null if killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
}

function startPeer(command: string, args: readonly string[]): Peer {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      output += `spawn failed: ${error.message}\n`;
      resolve(null);
    });
    child.once('exit', (code) => resolve(code));
  });
  return { child, output: () => output, exited };
}

function stopPeer(peer: Peer | undefined): void {
  if (peer !== undefined && peer.child.exitCode === null && peer.child.signalCode === null) peer.child.kill('SIGKILL');
}

/** The exit code, or 'running' if the process has not exited within `timeoutMs`. */
async function exitWithin(peer: Peer, timeoutMs: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'running'>((resolve) => { timer = setTimeout(() => resolve('running'), timeoutMs); });
  try {
    return await Promise.race([peer.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// libcoap reads -T as raw bytes, not hex, and uses it as a 64-bit counter: 4.3.1 to 4.3.4
// increment it before the first request, later releases after, so the first token is the
// text itself or the text plus one.
const CLIENT_TOKEN_TEXT = 'fleet-01';
function expectedClientTokens(text: string): string[] {
  const initial = Buffer.from(text, 'latin1');
  const next = Buffer.alloc(8);
  next.writeBigUInt64BE(initial.readBigUInt64BE() + 1n);
  return [initial.toString('hex'), next.toString('hex')];
}

test('coap-client GET with path, query, token, Accept, Block2 and Observe decodes field by field', async () => {
  requireLibcoap('coap-client-notls');
  const socket = await bindLoopback();
  const inbox = new Inbox(socket);
  let client: Peer | undefined;
  try {
    const { port } = socket.address();
    client = startPeer('coap-client-notls', [
      '-m', 'get', '-T', CLIENT_TOKEN_TEXT, '-A', String(ContentFormat.Cbor), '-b', '1024', '-s', '5', '-B', '5',
      `coap://${LOOPBACK}:${port}/seg1/seg2?a=1&b=x%20y`,
    ]);
    const { bytes, from } = await inbox.next(DATAGRAM_TIMEOUT_MS, 'request from coap-client').catch((error: Error) => {
      throw new Error(`${error.message}; coap-client said: ${client!.output()}`);
    });
    const hex = bytes.toString('hex');
    const at = (field: string): string => `${field} of ${hex}`;

    const request = decode(bytes);
    assert.is(bytes[0]! >> 6, 1, at('version'));
    assert.is(request.type, MessageType.CON, at('type'));
    assert.is(formatCode(request.code), formatCode(Method.GET), at('code'));
    assert.is(request.token.length, 8, at('token length'));
    assert.ok(expectedClientTokens(CLIENT_TOKEN_TEXT).includes(request.token.toString('hex')), at(`token ${request.token.toString('hex')}`));

    const numbers = request.options.map((option) => option.number);
    assert.ok(numbers.every((number, i) => i === 0 || numbers[i - 1]! <= number), at(`option order ${numbers.join(',')}`));
    // §6.4: no Uri-Host for an IP literal; Uri-Port because the port is not 5683.
    assert.equal(numbers, [
      OptionNumber.Observe, OptionNumber.UriPort, OptionNumber.UriPath, OptionNumber.UriPath,
      OptionNumber.UriQuery, OptionNumber.UriQuery, OptionNumber.Accept, OptionNumber.Block2,
    ], at('option numbers'));
    assert.is(getUintOption(request.options, OptionNumber.UriPort), port, at('Uri-Port'));
    assert.equal(getStringOptions(request.options, OptionNumber.UriPath), ['seg1', 'seg2'], at('Uri-Path'));
    // §6.5: percent-encoding is undone before the value goes into the option.
    assert.equal(getStringOptions(request.options, OptionNumber.UriQuery), ['a=1', 'b=x y'], at('Uri-Query'));
    assert.is(getUintOption(request.options, OptionNumber.Accept), ContentFormat.Cbor, at('Accept'));
    // RFC 7959 §2.2: -b 1024 asks for block 0 of 2^(6+4) bytes.
    assert.equal(readBlockOption(request.options, OptionNumber.Block2), { num: 0, moreBlocks: false, sizeExponent: 6 }, at('Block2'));
    // RFC 7641 §2: register is Observe 0, sent as the empty uint (RFC 7252 §3.2).
    assert.is(getOption(request.options, OptionNumber.Observe)?.length, 0, at('Observe length'));
    assert.is(getUintOption(request.options, OptionNumber.Observe), 0, at('Observe'));
    assert.is(request.payload.length, 0, at('payload'));

    // A piggybacked 2.05 without Observe ends the exchange (RFC 7641 §3.1), so the client
    // prints our payload and exits: libcoap decoded what we encoded.
    const payload = 'fleet says hello';
    const response: Message = {
      type: MessageType.ACK, code: ResponseCode.Content, messageId: request.messageId, token: request.token,
      options: [uintOption(OptionNumber.ContentFormat, ContentFormat.TextPlain)], payload: Buffer.from(payload),
    };
    socket.send(encode(response), from.port, from.address);
    const exit = await exitWithin(client, EXIT_TIMEOUT_MS);
    assert.is(exit, 0, `coap-client exit after our response; it said: ${client.output()}`);
    assert.ok(client.output().includes(payload), `coap-client printed our payload; it said: ${client.output()}`);
  } finally {
    stopPeer(client);
    await closeSocket(socket);
  }
});

// Pings take message IDs from their own range so that a late answer to one is never
// mistaken for the answer to the request.
const PING_MESSAGE_ID = 0x7000;
const PING_ATTEMPTS = 30;
const PING_WAIT_MS = 100;
const SERVER_START_ATTEMPTS = 3;

/** §4.3: a CoAP ping (empty CON) is answered by RST once the server is listening. */
async function waitForPong(socket: Socket, inbox: Inbox, port: number, server: Peer): Promise<boolean> {
  for (let attempt = 0; attempt < PING_ATTEMPTS; attempt++) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return false;
    socket.send(encode(emptyMessage(MessageType.CON, PING_MESSAGE_ID + attempt)), port, LOOPBACK);
    const answer = await inbox.next(PING_WAIT_MS, 'pong').catch(() => undefined);
    if (answer !== undefined && answer.from.port === port) return true;
  }
  return false;
}

async function startServer(socket: Socket, inbox: Inbox): Promise<{ server: Peer; port: number }> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < SERVER_START_ATTEMPTS; attempt++) {
    const port = await freeUdpPort();
    const server = startPeer('coap-server-notls', ['-A', LOOPBACK, '-p', String(port)]);
    if (await waitForPong(socket, inbox, port, server)) return { server, port };
    stopPeer(server);
    failures.push(`port ${port}: ${server.output().trim() || 'no answer to ping'}`);
  }
  throw new Error(`coap-server-notls did not come up: ${failures.join('; ')}`);
}

async function nextAnswer(inbox: Inbox, port: number): Promise<Datagram> {
  const deadline = Date.now() + DATAGRAM_TIMEOUT_MS;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`no answer from coap-server within ${DATAGRAM_TIMEOUT_MS} ms`);
    const datagram = await inbox.next(remaining, 'answer from coap-server');
    const messageId = datagram.bytes.length >= 4 ? datagram.bytes.readUInt16BE(2) : -1;
    const isPong = messageId >= PING_MESSAGE_ID && messageId < PING_MESSAGE_ID + PING_ATTEMPTS;
    if (datagram.from.port === port && !isPong) return datagram;
  }
}

test('coap-server answers our CON GET /.well-known/core with Block2 as ACK 2.05 link-format', async () => {
  requireLibcoap('coap-server-notls');
  const socket = await bindLoopback();
  const inbox = new Inbox(socket);
  let server: Peer | undefined;
  try {
    const started = await startServer(socket, inbox);
    server = started.server;
    const request: Message = {
      type: MessageType.CON, code: Method.GET, messageId: 0x4a11, token: Buffer.from('c0a9f1ee7dba5e01', 'hex'),
      options: [
        stringOption(OptionNumber.UriPath, '.well-known'),
        stringOption(OptionNumber.UriPath, 'core'),
        blockOption(OptionNumber.Block2, { num: 0, moreBlocks: false, sizeExponent: 6 }),
      ],
      payload: EMPTY_BUFFER,
    };
    const sent = encode(request);
    socket.send(sent, started.port, LOOPBACK);
    const { bytes } = await nextAnswer(inbox, started.port);
    const hex = bytes.toString('hex');
    const at = (field: string): string => `${field} of ${hex} (answer to ${sent.toString('hex')})`;

    const response = decode(bytes);
    assert.is(bytes[0]! >> 6, 1, at('version'));
    assert.is(response.type, MessageType.ACK, at('type'));
    assert.is(response.messageId, request.messageId, at('message ID'));
    assert.is(response.token.toString('hex'), request.token.toString('hex'), at('token'));
    assert.is(formatCode(response.code), formatCode(ResponseCode.Content), at('code'));
    const numbers = response.options.map((option) => option.number);
    assert.ok(numbers.every((number, i) => i === 0 || numbers[i - 1]! <= number), at(`option order ${numbers.join(',')}`));
    assert.is(getUintOption(response.options, OptionNumber.ContentFormat), ContentFormat.LinkFormat, at('Content-Format'));
    // RFC 7959 §2.4: the server answers block 0 and may choose a smaller block size.
    const block2 = readBlockOption(response.options, OptionNumber.Block2);
    if (block2 !== undefined) {
      assert.is(block2.num, 0, at('Block2 number'));
      assert.ok(block2.sizeExponent <= 6, at('Block2 size'));
    }
    assert.ok(response.payload.length > 0, at('payload'));
    assert.is(response.payload.toString('utf8')[0], '<', at('link-format payload'));
  } finally {
    stopPeer(server);
    await closeSocket(socket);
  }
});

test.run();
