// A stand-in for the gateway's dashboard side (DASH-CONTRACT.md), which the dash-server
// branch builds at the same time: the static root, /api/login|logout|session, and CoAP over
// WebSocket (RFC 8323 §4) answering from resources the test sets, with Observe. For the
// page's own tests only (test/integration/dashboard-page.test.ts); the end-to-end test
// (test/e2e/dashboard.test.ts) runs against the real gateway. WebSocket by the `ws` package
// and RFC 8323 §4.2 frames by the gateway's own codec (src/protocol/ws-framing.ts), so the
// page's codec meets another implementation.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, join, normalize } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, encodeFrame, type FramedMessage as Message } from '../../src/protocol/ws-framing.js';
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
  readonly #sockets = new Set<WebSocket>();
  readonly #webSockets = new WebSocketServer({ noServer: true, handleProtocols: () => 'coap' });
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
    for (const socket of this.#sockets) socket.terminate();
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
    if (request.headers.origin !== this.#origin) return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    if (!this.#sessions.has(sessionOf(request) ?? '')) return void socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    this.#webSockets.handleUpgrade(request, socket, Buffer.alloc(0), (webSocket) => {
      this.#sockets.add(webSocket);
      const mine = new Set<{ path: string; observer: Observer }>();
      const send = (frame: Message) => webSocket.send(encodeFrame(frame));
      send({ code: 0xe1, token: Buffer.alloc(0), options: [{ number: 2, value: Buffer.from([0x00, 0x10, 0x00, 0x00]) }], payload: Buffer.alloc(0) });
      webSocket.on('message', (data: Buffer, binary: boolean) => { if (binary) this.#coap(decodeFrame(data), send, mine); });
      webSocket.on('close', () => {
        this.#sockets.delete(webSocket);
        for (const { path, observer } of mine) this.#observers.get(path)?.delete(observer);
      });
    });
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
    return { code: 0x45, token, options, payload };
  }
}

function uintBytes(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from(bytes);
}

const reply = (token: Buffer, code: number): Message => ({ code, token, options: [], payload: Buffer.alloc(0) });

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
