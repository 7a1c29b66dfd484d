// The dashboard's HTTP side (issue 15): login, logout and session under /api, the static
// files elsewhere, every answer with the security headers (a strict CSP: everything comes
// from the gateway itself). Login and logout need the dashboard's own Origin (a foreign
// page cannot post to them); the session cookie is HttpOnly and SameSite=Strict (Secure
// over HTTPS), so the page's scripts never see it and other sites never send it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopback } from '../fleet/identity.js';
import type { Logger } from '../protocol/interfaces.js';
import { cookieValue, type DashboardSessions } from './dashboard-sessions.js';
import type { LoginLimit } from './dashboard-login-limit.js';
import { serveStatic } from './dashboard-static.js';
import type { AuditEntry } from './records.js';

export const SESSION_COOKIE = 'coap_fleet_session';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** Largest login body read. */
const MAX_LOGIN_BODY = 4096;

export interface DashboardHttpOptions {
  readonly https: boolean;
  /** The configured dashboard_host: on loopback, only loopback names are our origin. */
  readonly host: string;
  readonly root: string;
  readonly sessions: DashboardSessions;
  readonly loginLimit: LoginLimit;
  /** The principal a login token names, or undefined. */
  readonly principalOf: (token: string) => string | undefined;
  readonly audit: (entry: AuditEntry) => void;
  readonly now: () => Date;
  readonly logger: Logger;
}

/** The request's principal by its session cookie, or undefined. */
export function sessionOf(request: IncomingMessage, sessions: DashboardSessions): { id: string; principal: string } | undefined {
  const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
  if (id === undefined) return undefined;
  const principal = sessions.use(id);
  return principal === undefined ? undefined : { id, principal };
}

/** Whether the request's Origin is the dashboard's own: the scheme and Host it was asked
 * at. When the dashboard listens on loopback, the Host must be a loopback name too, so a
 * page whose DNS name was rebound to 127.0.0.1 is not taken for ours. */
export function sameOrigin(request: IncomingMessage, https: boolean, host: string): boolean {
  const origin = request.headers.origin;
  const requestHost = request.headers.host;
  if (origin === undefined || requestHost === undefined) return false;
  if (origin !== `${https ? 'https' : 'http'}://${requestHost}`) return false;
  if (!(isLoopback(host) || host === 'localhost')) return true;
  const name = requestHost.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || isLoopback(name);
}

export function dashboardHttpHandler(options: DashboardHttpOptions): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    handle(options, request, response).catch((error: unknown) => {
      options.logger.error({ err: error, path: request.url }, 'dashboard: request failed');
      if (!response.headersSent) json(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  };
}

async function handle(options: DashboardHttpOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0]!;
  if (path === '/api/login') return login(options, request, response);
  if (path === '/api/logout') return logout(options, request, response);
  if (path === '/api/session') {
    if (request.method !== 'GET') return methodNotAllowed(response, 'GET');
    const session = sessionOf(request, options.sessions);
    if (session === undefined) return json(response, 401, { error: 'not logged in' });
    return json(response, 200, { principal: session.principal });
  }
  if (path.startsWith('/api/')) return json(response, 404, { error: 'no such API' });
  if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(response, 'GET, HEAD');
  return serveStatic(options.root, request, response, path);
}

async function login(options: DashboardHttpOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'POST') return methodNotAllowed(response, 'POST');
  if (!sameOrigin(request, options.https, options.host)) return json(response, 403, { error: 'foreign origin' });
  const address = request.socket.remoteAddress ?? 'unknown';
  const retryAfter = options.loginLimit.attempt(address);
  if (retryAfter !== undefined) {
    response.setHeader('Retry-After', String(retryAfter));
    return json(response, 429, { error: 'too many login attempts' });
  }
  const body = await readBody(request, MAX_LOGIN_BODY);
  if (body === undefined) {
    response.setHeader('Connection', 'close');
    return json(response, 413, { error: 'body too large' });
  }
  let token: unknown;
  try {
    token = (JSON.parse(body.toString('utf8')) as { token?: unknown } | null)?.token;
  } catch {
    return json(response, 400, { error: 'expected {"token": "..."}' });
  }
  if (typeof token !== 'string' || token.length === 0 || token.length > 256) return json(response, 400, { error: 'expected {"token": "..."}' });
  const principal = options.principalOf(token);
  const at = options.now().toISOString();
  if (principal === undefined) {
    options.logger.warn({ address }, 'dashboard: login refused');
    options.audit({ at, who: `anonymous@${address}`, action: 'dashboard.login_failed', target: '/api/login' });
    return json(response, 401, { error: 'unknown token' });
  }
  const id = options.sessions.create(principal);
  options.logger.info({ who: principal, address }, 'dashboard: logged in');
  options.audit({ at, who: principal, action: 'dashboard.login', target: '/api/login', detail: `from ${address}` });
  response.setHeader('Set-Cookie', `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/${options.https ? '; Secure' : ''}`);
  response.writeHead(204).end();
}

function logout(options: DashboardHttpOptions, request: IncomingMessage, response: ServerResponse): void {
  if (request.method !== 'POST') return methodNotAllowed(response, 'POST');
  if (!sameOrigin(request, options.https, options.host)) return json(response, 403, { error: 'foreign origin' });
  const session = sessionOf(request, options.sessions);
  if (session !== undefined) {
    options.sessions.end(session.id);
    options.audit({ at: options.now().toISOString(), who: session.principal, action: 'dashboard.logout', target: '/api/logout' });
  }
  response.setHeader('Set-Cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${options.https ? '; Secure' : ''}`);
  response.writeHead(204).end();
}

function json(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}

function methodNotAllowed(response: ServerResponse, allow: string): void {
  response.setHeader('Allow', allow);
  json(response, 405, { error: 'method not allowed' });
}

/** The whole body, or undefined past `limit` bytes (the rest is not read). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
