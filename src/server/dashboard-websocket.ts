// CoAP over WebSocket for the dashboard (RFC 8323 §4, issue 15): the upgrade at
// /.well-known/coap with subprotocol "coap" is accepted only with the dashboard's own
// Origin and a live session cookie (403 and 401 otherwise, as HTTP answers: no upgrade),
// within the bounds on connections (in all and per principal); the connection then speaks
// for the session's operator on the WebSocket transport, which hands its requests to the
// gateway's router like any DTLS peer's. A session that ends (logout, expiry) takes its
// connections with it.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../protocol/interfaces.js';
import type { ConnectionHandle, WebSocketTransport } from '../protocol/transport-websocket.js';
import { sameOrigin, sessionOf } from './dashboard-http.js';
import type { DashboardSessions } from './dashboard-sessions.js';

export const WEBSOCKET_PATH = '/.well-known/coap';

export interface ConnectionLimits {
  readonly total: number;
  readonly perPrincipal: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { total: 64, perPrincipal: 8 };

/** A WebSocket ping this often; a connection that has not answered the previous one is
 * gone (a closed laptop sends no FIN), and its observations go with it. */
const HEARTBEAT_MS = 30_000;

export interface DashboardWebSocketOptions {
  readonly transport: WebSocketTransport;
  readonly sessions: DashboardSessions;
  readonly https: boolean;
  readonly host: string;
  readonly limits: ConnectionLimits;
  readonly logger: Logger;
}

export class DashboardWebSockets {
  readonly #options: DashboardWebSocketOptions;
  readonly #server: WebSocketServer;
  /** Open connections per session id; a session goes with its last connection. */
  readonly #bySession = new Map<string, Set<ConnectionHandle>>();
  #count = 0;
  /** Connections that answered the last heartbeat ping (or were opened since). */
  readonly #alive = new WeakSet<WebSocket>();
  readonly #heartbeat: ReturnType<typeof setInterval>;

  constructor(options: DashboardWebSocketOptions) {
    this.#options = options;
    this.#server = new WebSocketServer({
      noServer: true,
      // Twice what we announce: a message between the two gets an Abort naming the bound
      // (RFC 8323 §5.6); one past this, ws closes with 1009 without reading it.
      maxPayload: options.transport.limits.maxMessageSize * 2,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has('coap') ? 'coap' : false),
    });
    this.#heartbeat = setInterval(() => {
      for (const ws of this.#server.clients) {
        if (!this.#alive.has(ws)) {
          ws.terminate();
          continue;
        }
        this.#alive.delete(ws);
        ws.ping();
      }
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  get connections(): number {
    return this.#count;
  }

  /** Whether the session has an open connection (it then counts as in use). */
  inUse(sessionId: string): boolean {
    return this.#bySession.has(sessionId);
  }

  /** The session ended: its connections are aborted. */
  sessionEnded(sessionId: string): void {
    for (const connection of [...this.#bySession.get(sessionId) ?? []]) connection.abort('the session ended');
  }

  /** The HTTP server's 'upgrade' event. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { sessions, https, host, limits, logger } = this.#options;
    const path = (request.url ?? '/').split('?')[0];
    if (path !== WEBSOCKET_PATH) return refuse(socket, 404, 'not found');
    if (!sameOrigin(request, https, host)) return refuse(socket, 403, 'foreign origin');
    const session = sessionOf(request, sessions);
    if (session === undefined) return refuse(socket, 401, 'not logged in');
    const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((name) => name.trim());
    if (!protocols.includes('coap')) return refuse(socket, 400, 'subprotocol "coap" required (RFC 8323 §4)');
    const ofPrincipal = [...this.#bySession.entries()]
      .reduce((sum, [id, set]) => sum + (sessions.principalOf(id) === session.principal ? set.size : 0), 0);
    if (this.#count >= limits.total || ofPrincipal >= limits.perPrincipal) return refuse(socket, 503, 'too many connections');
    this.#server.handleUpgrade(request, socket, head, (ws) => this.#attach(ws, request, session));
    logger.debug({ who: session.principal }, 'dashboard: websocket upgrade');
  }

  /** Aborts every connection; the transport's close releases them anyway, this is for a
   * server whose endpoint never opened. */
  close(): void {
    clearInterval(this.#heartbeat);
    for (const client of this.#server.clients) client.terminate();
    this.#server.close();
  }

  #attach(ws: WebSocket, request: IncomingMessage, session: { id: string; principal: string }): void {
    const { transport, sessions, logger } = this.#options;
    const connection = transport.attach(ws, request.socket.remoteAddress ?? 'unknown', session.principal);
    this.#count++;
    let set = this.#bySession.get(session.id);
    if (set === undefined) this.#bySession.set(session.id, set = new Set());
    set.add(connection);
    ws.on('message', (data, binary) => {
      sessions.use(session.id);
      connection.receive(Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]), binary);
    });
    this.#alive.add(ws);
    ws.on('pong', () => this.#alive.add(ws));
    ws.on('error', (error) => logger.debug({ err: error, who: session.principal }, 'dashboard: websocket error'));
    ws.on('close', () => {
      connection.closed();
      this.#count--;
      set.delete(connection);
      if (set.size === 0) this.#bySession.delete(session.id);
    });
  }
}

/** An HTTP answer on the upgrade's socket, then the socket closed: no upgrade. */
function refuse(socket: Duplex, status: number, reason: string): void {
  const body = `${JSON.stringify({ error: reason })}\n`;
  const text = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
