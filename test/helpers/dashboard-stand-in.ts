// A stand-in for the gateway's dashboard side (DASH-CONTRACT.md), which the dash-server
// branch builds at the same time: the static root, /api/login|logout|session, and CoAP over
// WebSocket (RFC 8323 §4) answering from resources the test sets, with Observe. For the
// page's own tests only (test/integration/dashboard-page.test.ts); the end-to-end test
// (test/e2e/dashboard.test.ts) runs against the real gateway. The WebSocket side is the
// least of RFC 6455 a browser needs (unfragmented binary messages, close, ping); frames are
// read and written with the gateway's own RFC 7252 codec less the message ID (§4.2).
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, join, normalize } from 'node:path';
import { decode, encode } from '../../src/protocol/codec.js';
import { MessageType, type Message } from '../../src/protocol/message.js';
import { ROOT } from './fleet.js';

export const STAND_IN_TOKEN = 'stand-in-operator-token';
/** Bodies over this go block-wise (the gateway's Max-Message-Size is larger; a small one
 * here lets a test reach the page's Block2 fallback with a few hundred nodes). */
export const WHOLE_BODY_BYTES = 64 * 1024;
const BLOCK_BYTES = 1024;
const PUBLIC = join(ROOT, 'dist', 'src', 'dashboard', 'public');
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

export interface StandInRequest {
  readonly method: number;
  readonly path: string;
  readonly body: unknown;
}

interface Observer {
  readonly send: (frame: Message) => void;
  readonly token: Buffer;
  sequence: number;
}

export class DashboardStandIn {
  readonly requests: StandInRequest[] = [];
  /** Block2 blocks sent (bodies over WHOLE_BODY_BYTES). */
  blocksServed = 0;
  /** Answers a PUT/POST/DELETE; default 2.04. */
  onRequest: (request: StandInRequest) => number = () => 0x44;
  readonly #resources = new Map<string, unknown>();
  readonly #observers = new Map<string, Set<Observer>>();
  readonly #sessions = new Set<string>();
  readonly #sockets = new Set<Duplex>();
  readonly #server: Server;
  #origin = '';

  private constructor() {
    this.#server = createServer((request, response) => void this.#http(request, response).catch((error: Error) => {
      response.writeHead(500).end(error.message);
    }));
    this.#server.on('upgrade', (request, socket) => this.#upgrade(request, socket));
  }

  static async start(): Promise<DashboardStandIn> {
    const standIn = new DashboardStandIn();
    await new Promise<void>((resolve) => standIn.#server.listen(0, '127.0.0.1', resolve));
    standIn.#origin = `http://127.0.0.1:${(standIn.#server.address() as AddressInfo).port}`;
    return standIn;
  }

  get url(): string {
    return `${this.#origin}/`;
  }

  /** Sets the representation at `path` (with its query) and notifies its observers. */
  set(path: string, value: unknown): void {
    this.#resources.set(path, value);
    for (const observer of this.#observers.get(path) ?? []) observer.send(this.#content(observer.token, value, ++observer.sequence));
  }

  /** Cuts every WebSocket connection, as a gateway restart would. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  observed(path: string): number {
    return this.#observers.get(path)?.size ?? 0;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  async #http(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.#origin);
    if (url.pathname === '/api/login' && request.method === 'POST') {
      if (request.headers.origin !== this.#origin) return void response.writeHead(403, { 'Content-Type': 'application/json' }).end('{"error":"foreign origin"}');
      const body = JSON.parse(await text(request)) as { token?: string };
      if (body.token !== STAND_IN_TOKEN) return void response.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"unknown token"}');
      const session = randomBytes(32).toString('base64url');
      this.#sessions.add(session);
      return void response.writeHead(204, { 'Set-Cookie': `coap_fleet_session=${session}; HttpOnly; SameSite=Strict; Path=/` }).end();
    }
    if (url.pathname === '/api/logout' && request.method === 'POST') {
      this.#sessions.delete(sessionOf(request) ?? '');
      return void response.writeHead(204).end();
    }
    if (url.pathname === '/api/session') {
      if (!this.#sessions.has(sessionOf(request) ?? '')) return void response.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"no session"}');
      return void response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"principal":"operator:admin"}');
    }
    const file = url.pathname === '/' ? 'index.html' : normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    if (file.startsWith('..') || file.split('/').some((part) => part.startsWith('.'))) return void response.writeHead(404).end();
    let content: Buffer;
    try {
      content = await readFile(join(PUBLIC, file));
    } catch {
      return void response.writeHead(404).end('not found');
    }
    response.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-cache',
    }).end(content);
  }

  #upgrade(request: IncomingMessage, socket: Duplex): void {
    const key = request.headers['sec-websocket-key'];
    if (request.headers.origin !== this.#origin) return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    if (!this.#sessions.has(sessionOf(request) ?? '') || typeof key !== 'string') return void socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: coap\r\n\r\n`);
    this.#sockets.add(socket);
    const mine = new Set<{ path: string; observer: Observer }>();
    const send = (frame: Message) => socket.write(wsFrame(0x2, toWebSocket(encode(frame))));
    send({ type: MessageType.CON, code: 0xe1, messageId: 0, token: Buffer.alloc(0), options: [{ number: 2, value: Buffer.from([0x00, 0x10, 0x00, 0x00]) }], payload: Buffer.alloc(0) });
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let message = readWsFrame(pending); message !== undefined; message = readWsFrame(pending)) {
        pending = pending.subarray(message.length);
        if (message.opcode === 0x8) return void socket.end(wsFrame(0x8, Buffer.alloc(0)));
        if (message.opcode === 0x9) socket.write(wsFrame(0xa, message.payload));
        if (message.opcode === 0x2) this.#coap(fromWebSocket(message.payload), send, mine);
      }
    });
    socket.on('close', () => { this.#sockets.delete(socket); for (const { path, observer } of mine) this.#observers.get(path)?.delete(observer); });
    socket.on('error', () => {});
  }

  #coap(request: Message, send: (frame: Message) => void, mine: Set<{ path: string; observer: Observer }>): void {
    if (request.code === 0xe2) return send({ ...request, code: 0xe3, options: [] });
    if (request.code >= 0xe0) return;
    const segments = request.options.filter((option) => option.number === 11).map((option) => option.value.toString());
    const query = request.options.filter((option) => option.number === 15).map((option) => option.value.toString());
    const path = `/${segments.join('/')}${query.length === 0 ? '' : `?${query.join('&')}`}`;
    const observe = request.options.find((option) => option.number === 6);
    if (request.code !== 0x01) {
      const body = request.payload.length === 0 ? undefined : JSON.parse(request.payload.toString()) as unknown;
      const entry = { method: request.code, path, body };
      this.requests.push(entry);
      return send(reply(request.token, this.onRequest(entry)));
    }
    if (!this.#resources.has(path)) return send(reply(request.token, 0x84));
    if (observe !== undefined && observe.value.length === 0) {
      const observer: Observer = { send, token: request.token, sequence: 0 };
      if (!this.#observers.has(path)) this.#observers.set(path, new Set());
      this.#observers.get(path)!.add(observer);
      mine.add({ path, observer });
      return send(this.#content(request.token, this.#resources.get(path), 0));
    }
    if (observe !== undefined) {
      for (const entry of mine) if (entry.path === path && entry.observer.token.equals(request.token)) { this.#observers.get(path)?.delete(entry.observer); mine.delete(entry); }
    }
    const block = request.options.find((option) => option.number === 23);
    const num = block === undefined ? 0 : block.value.reduce((value, byte) => value * 256 + byte, 0) >> 4;
    return send(this.#content(request.token, this.#resources.get(path), undefined, num));
  }

  /** The representation, or its block `num` of 1024 bytes (RFC 7959 §2.2, SZX 6) when it
   * is over WHOLE_BODY_BYTES, as the gateway does past its Max-Message-Size. */
  #content(token: Buffer, value: unknown, sequence: number | undefined, num = 0): Message {
    const options: { number: number; value: Buffer }[] = [{ number: 12, value: Buffer.from([50]) }];
    if (sequence !== undefined) options.unshift({ number: 6, value: sequence === 0 ? Buffer.alloc(0) : Buffer.from([sequence & 0xff]) });
    let payload: Buffer = Buffer.from(JSON.stringify(value));
    if (payload.length > WHOLE_BODY_BYTES) {
      const more = (num + 1) * BLOCK_BYTES < payload.length;
      options.push({ number: 23, value: uintBytes(num * 16 + (more ? 8 : 0) + 6) });
      payload = payload.subarray(num * BLOCK_BYTES, (num + 1) * BLOCK_BYTES);
      this.blocksServed++;
    }
    return { type: MessageType.CON, code: 0x45, messageId: 0, token, options, payload };
  }
}

function uintBytes(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from(bytes);
}

const reply = (token: Buffer, code: number): Message => ({ type: MessageType.CON, code, messageId: 0, token, options: [], payload: Buffer.alloc(0) });

/** RFC 8323 §4.2 frame ⇄ RFC 7252 datagram: the header's first byte keeps TKL only, and
 * the message ID goes. */
const toWebSocket = (udp: Buffer): Buffer => Buffer.concat([Buffer.from([udp[0]! & 0x0f, udp[1]!]), udp.subarray(4)]);
const fromWebSocket = (frame: Buffer): Message => decode(Buffer.concat([Buffer.from([0x40 | frame[0]!, frame[1]!, 0, 0]), frame.subarray(2)]));

function sessionOf(request: IncomingMessage): string | undefined {
  return /(?:^|;\s*)coap_fleet_session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
}

function text(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); if (body.length > 4096) reject(new Error('body too large')); });
    request.on('end', () => resolve(body));
  });
}

/** A server frame (RFC 6455 §5.2): FIN, opcode, unmasked length. */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0x80 | opcode, length])
    : length < 65536 ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
      : Buffer.concat([Buffer.from([0x80 | opcode, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
  return Buffer.concat([head, payload]);
}

/** A client frame (masked) at the start of `bytes`, or undefined until it is all there. */
function readWsFrame(bytes: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (bytes.length < 2) return undefined;
  let length = bytes[1]! & 0x7f;
  let at = 2;
  if (length === 126) { if (bytes.length < 4) return undefined; length = bytes.readUInt16BE(2); at = 4; }
  else if (length === 127) { if (bytes.length < 10) return undefined; length = Number(bytes.readBigUInt64BE(2)); at = 10; }
  if (bytes.length < at + 4 + length) return undefined;
  const mask = bytes.subarray(at, at + 4);
  const payload = Buffer.from(bytes.subarray(at + 4, at + 4 + length));
  for (let index = 0; index < payload.length; index++) payload[index]! ^= mask[index % 4]!;
  return { opcode: bytes[0]! & 0x0f, payload, length: at + 4 + length };
}
