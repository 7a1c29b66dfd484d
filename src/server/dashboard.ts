// The dashboard put together (issue 15): on dashboard_host:dashboard_port, HTTP (or HTTPS
// with dashboard_cert_file and dashboard_key_file) for the page, the login and the
// session, and CoAP over WebSocket (RFC 8323 §4) into an Endpoint of its own, which the
// gateway's router serves like its UDP and DTLS ones (same resources, access table, audit
// and Observe). Sessions are swept once a minute.

import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseDashboardTokens, principalOfToken, type DashboardTokenEntry } from '../fleet/dashboard-tokens.js';
import { Endpoint } from '../protocol/endpoint.js';
import type { Clock, Logger, PeerAddress } from '../protocol/interfaces.js';
import { systemClock } from '../protocol/runtime.js';
import { WebSocketTransport, type WebSocketLimits } from '../protocol/transport-websocket.js';
import type { GatewayConfig } from './config.js';
import { readText } from './credentials.js';
import { dashboardHttpHandler } from './dashboard-http.js';
import { LoginLimit, type LoginLimits } from './dashboard-login-limit.js';
import { DashboardSessions, type SessionLimits } from './dashboard-sessions.js';
import { DASHBOARD_ROOT } from './dashboard-static.js';
import { DashboardWebSockets, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './dashboard-websocket.js';
import { ConfigError } from './errors.js';
import type { AuditEntry } from './records.js';

const SWEEP_INTERVAL_MS = 60_000;
const MAX_HTTP_CONNECTIONS = 256;

/** Observations per operator over all its connections (the endpoint counts per identity). */
const OBSERVATIONS_PER_PRINCIPAL = 256;

export interface DashboardOptions {
  readonly config: Pick<GatewayConfig, 'dashboard_port' | 'dashboard_host' | 'dashboard_cert_file' | 'dashboard_key_file' | 'dashboard_tokens_file'>;
  readonly logger: Logger;
  readonly audit: (entry: AuditEntry) => void;
  readonly now: () => Date;
  readonly clock?: Clock;
  /** Where the page's files are (default dist/src/dashboard/public). */
  readonly root?: string;
  readonly limits?: {
    readonly websocket?: Partial<WebSocketLimits>;
    readonly connections?: Partial<ConnectionLimits>;
    readonly sessions?: Partial<SessionLimits>;
    readonly logins?: Partial<LoginLimits>;
  };
}

export class Dashboard {
  /** The CoAP endpoint the gateway's router adds its resources to. */
  readonly endpoint: Endpoint;
  readonly #server: HttpServer;
  readonly #sockets: DashboardWebSockets;
  readonly #https: boolean;
  #sweepTimer: ReturnType<Clock['setTimeout']> | undefined;
  readonly #clock: Clock;

  private constructor(parts: { endpoint: Endpoint; server: HttpServer; sockets: DashboardWebSockets; https: boolean; clock: Clock }) {
    this.endpoint = parts.endpoint;
    this.#server = parts.server;
    this.#sockets = parts.sockets;
    this.#https = parts.https;
    this.#clock = parts.clock;
  }

  /** Reads the tokens and certificate, opens the endpoint and listens. */
  static async open(options: DashboardOptions): Promise<Dashboard> {
    const { config, logger } = options;
    const clock = options.clock ?? systemClock;
    const tokens = await loadTokens(config.dashboard_tokens_file!);
    const https = config.dashboard_cert_file !== null && config.dashboard_key_file !== null;
    // Every file read before anything opens: a bad one leaves nothing to close.
    const pem = https
      ? { cert: await readText('dashboard_cert_file', config.dashboard_cert_file!), key: await readText('dashboard_key_file', config.dashboard_key_file!) }
      : undefined;
    const transport = new WebSocketTransport({ logger, ...(options.limits?.websocket === undefined ? {} : { limits: options.limits.websocket }) });
    const endpoint = new Endpoint({
      transport, logger, clock,
      observeLimits: { perPeer: OBSERVATIONS_PER_PRINCIPAL },
      wholePayloadBytes: (peer) => transport.wholePayloadBytes(peer),
      // Served once the gateway has added its resources (Gateway.start).
      starting: true,
    });
    let sockets: DashboardWebSockets | undefined;
    const sessions = new DashboardSessions({
      now: () => clock.now(), onEnd: (id) => sockets?.sessionEnded(id), ...(options.limits?.sessions === undefined ? {} : { limits: options.limits.sessions }),
    });
    sockets = new DashboardWebSockets({
      transport, sessions, https, host: config.dashboard_host, logger,
      limits: { ...DEFAULT_CONNECTION_LIMITS, ...options.limits?.connections },
    });
    const handler = dashboardHttpHandler({
      https, host: config.dashboard_host, root: options.root ?? DASHBOARD_ROOT, sessions,
      loginLimit: new LoginLimit(() => clock.now(), options.limits?.logins),
      principalOf: (token) => principalOfToken(tokens, token),
      audit: options.audit, now: options.now, logger,
    });
    let server: HttpServer;
    try {
      server = pem === undefined ? createHttpServer(handler) : createHttpsServer(pem, handler);
    } catch (error) {
      await endpoint.close();
      throw new ConfigError(`dashboard_cert_file, dashboard_key_file: not a usable certificate and key: ${(error as Error).message}`);
    }
    const upgrades = sockets;
    server.on('upgrade', (request, socket, head) => upgrades.upgrade(request, socket, head));
    server.on('clientError', (_error, socket) => socket.destroy());
    // Page loads and logins are few; a flood of open sockets stops here (WebSockets have
    // their own, smaller bounds).
    server.maxConnections = MAX_HTTP_CONNECTIONS;
    try {
      await listen(server, config.dashboard_host, config.dashboard_port!);
    } catch (error) {
      await endpoint.close();
      throw new ConfigError(`dashboard: cannot listen on ${config.dashboard_host}:${config.dashboard_port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const dashboard = new Dashboard({ endpoint, server, sockets, https, clock });
    dashboard.#sweepTimer = clock.setTimeout(function sweep() {
      sessions.sweep((id) => upgrades.inUse(id));
      dashboard.#sweepTimer = clock.setTimeout(sweep, SWEEP_INTERVAL_MS);
    }, SWEEP_INTERVAL_MS);
    return dashboard;
  }

  address(): PeerAddress {
    const { address, port } = this.#server.address() as AddressInfo;
    return { address, port };
  }

  /** http(s)://HOST:PORT/ */
  url(): string {
    const { address, port } = this.address();
    const host = address.includes(':') ? `[${address}]` : address;
    return `${this.#https ? 'https' : 'http'}://${host}:${port}/`;
  }

  get connections(): number {
    return this.#sockets.connections;
  }

  /** Stops listening and ends every connection (the endpoint's close releases the
   * WebSockets first: RFC 8323 §5.5). */
  async close(): Promise<void> {
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sockets.close();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

async function loadTokens(path: string): Promise<DashboardTokenEntry[]> {
  const text = await readText('dashboard_tokens_file', path);
  try {
    return parseDashboardTokens(text);
  } catch (error) {
    throw new ConfigError(`dashboard_tokens_file: ${path}: ${(error as Error).message}`);
  }
}

function listen(server: HttpServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
