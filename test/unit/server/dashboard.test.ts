// The dashboard's parts in process: the login limit, sessions, tokens, the static files'
// confinement, the Origin rule, the config rules, and HTTPS with a fleet CA's certificate
// (the Secure cookie). The whole path through a real gateway process is
// test/integration/dashboard.test.ts.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DashboardTokensError, formatDashboardTokens, hashDashboardToken, newDashboardToken, parseDashboardTokens, principalOfToken,
} from '../../../src/fleet/dashboard-tokens.js';
import { initCertificateAuthority, issueFor } from '../../../src/operator/certificate-authority.js';
import { loadConfig } from '../../../src/server/config.js';
import { Dashboard } from '../../../src/server/dashboard.js';
import { sameOrigin } from '../../../src/server/dashboard-http.js';
import { LoginLimit } from '../../../src/server/dashboard-login-limit.js';
import { cookieValue, DashboardSessions } from '../../../src/server/dashboard-sessions.js';
import { resolveStatic, safeSegments } from '../../../src/server/dashboard-static.js';
import { decodeFrame, SignalCode } from '../../../src/protocol/ws-framing.js';
import WebSocket from 'ws';
import { waitFor } from '../../helpers/wait.js';

test('logins: per address, then in all, per window; Retry-After counts to the window\'s end', () => {
  let now = 0;
  const limit = new LoginLimit(() => now, { perAddress: 2, total: 3, windowMs: 10_000 });
  assert.is(limit.attempt('a'), undefined);
  assert.is(limit.attempt('a'), undefined);
  now = 4000;
  assert.is(limit.attempt('a'), 6, 'the third from a waits 6 s');
  assert.is(limit.attempt('b'), undefined);
  assert.is(limit.attempt('c'), 6, 'the fourth in all waits too');
  now = 10_000;
  assert.is(limit.attempt('a'), undefined, 'a new window');
});

test('sessions: idle and maximum age end them, an open connection keeps one alive until its maximum age, the bound drops the least recently used', () => {
  let now = 0;
  const ended: string[] = [];
  const sessions = new DashboardSessions({ now: () => now, onEnd: (id) => ended.push(id), limits: { maxSessions: 2, idleMs: 100, maxAgeMs: 1000 } });
  const a = sessions.create('operator:a');
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  now = 99;
  assert.is(sessions.use(a), 'operator:a');
  now = 198;
  assert.is(sessions.use(a), 'operator:a', 'used 99 ms ago');
  now = 298;
  assert.is(sessions.use(a), undefined, 'idle for 100 ms');
  assert.equal(ended, [a]);
  const b = sessions.create('operator:b');
  for (now = 300; now < 1300; now += 50) sessions.sweep((id) => id === b);
  assert.is(sessions.use(b), undefined, 'past its maximum age even in use');
  const c = sessions.create('operator:c');
  const d = sessions.create('operator:d');
  sessions.use(c);
  sessions.create('operator:e');
  assert.is(sessions.principalOf(d), undefined, 'the least recently used went');
  assert.is(sessions.principalOf(c), 'operator:c');
  assert.is(cookieValue('x=1; coap_fleet_session=abc; y=2', 'coap_fleet_session'), 'abc');
  assert.is(cookieValue('coap_fleet_sessionx=abc', 'coap_fleet_session'), undefined);
});

test('tokens: hashed, compared against every entry, only operators; a bad file names the entry', () => {
  const token = newDashboardToken();
  const entries = parseDashboardTokens(formatDashboardTokens([
    { principal: 'operator:other', sha256: hashDashboardToken(newDashboardToken()) },
    { principal: 'operator:alice', sha256: hashDashboardToken(token) },
  ]));
  assert.is(principalOfToken(entries, token), 'operator:alice');
  assert.is(principalOfToken(entries, `${token}\n`), 'operator:alice', 'a pasted newline is trimmed');
  assert.is(principalOfToken(entries, token.slice(1)), undefined);
  for (const [text, pattern] of [
    ['{"tokens":[{"principal":"node:n1","sha256":"' + '0'.repeat(64) + '"}]}', /tokens\[0\]: principal/],
    ['{"tokens":[{"principal":"operator:a","sha256":"abc"}]}', /sha256/],
    ['[]', /expected/],
    ['{', /not JSON/],
  ] as const) {
    assert.throws(() => parseDashboardTokens(text), (error: unknown) => error instanceof DashboardTokensError && pattern.test(error.message), text);
  }
});

test('static files stay inside the root: no "..", no dotfiles, no symbolic link out; a missing root says the dashboard was not built', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-static-'));
  try {
    const root = join(dir, 'public');
    await mkdir(join(root, 'vendor'), { recursive: true });
    await writeFile(join(root, 'index.html'), '<!doctype html>');
    await writeFile(join(root, 'vendor', 'lib.js'), 'export {}');
    await writeFile(join(root, '.secret'), 'x');
    await writeFile(join(dir, 'outside.txt'), 'x');
    await symlink(join(dir, 'outside.txt'), join(root, 'link.txt'));
    const index = await resolveStatic(root, '/');
    assert.is(index.kind === 'file' && index.type, 'text/html; charset=utf-8');
    const lib = await resolveStatic(root, '/vendor/lib.js');
    assert.is(lib.kind === 'file' && lib.type, 'text/javascript; charset=utf-8');
    for (const path of ['/../outside.txt', '/%2e%2e/outside.txt', '/vendor/..%2f..%2foutside.txt', '/.secret', '/link.txt', '/vendor', '/nothing.js', '/%E0%A4%A']) {
      assert.is((await resolveStatic(root, path)).kind, 'not-found', path);
    }
    assert.is((await resolveStatic(join(dir, 'missing'), '/')).kind, 'not-built');
    assert.equal(safeSegments('/a/%20b/'), ['a', ' b']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the Origin must be the scheme and Host asked at; on loopback, the Host a loopback name (no DNS rebinding)', () => {
  const request = (origin: string | undefined, host: string): IncomingMessage => ({ headers: { ...(origin === undefined ? {} : { origin }), host } }) as IncomingMessage;
  assert.ok(sameOrigin(request('http://127.0.0.1:8080', '127.0.0.1:8080'), false, '127.0.0.1'));
  assert.ok(sameOrigin(request('http://localhost:8080', 'localhost:8080'), false, '127.0.0.1'));
  assert.ok(sameOrigin(request('http://[::1]:8080', '[::1]:8080'), false, '::1'));
  assert.not.ok(sameOrigin(request(undefined, '127.0.0.1:8080'), false, '127.0.0.1'), 'no Origin');
  assert.not.ok(sameOrigin(request('http://evil.example', '127.0.0.1:8080'), false, '127.0.0.1'));
  assert.not.ok(sameOrigin(request('https://127.0.0.1:8080', '127.0.0.1:8080'), false, '127.0.0.1'), 'the scheme counts');
  assert.not.ok(sameOrigin(request('http://rebound.example:8080', 'rebound.example:8080'), false, '127.0.0.1'), 'a rebound name');
  assert.ok(sameOrigin(request('https://fleet.example:8443', 'fleet.example:8443'), true, '0.0.0.0'), 'a public name over HTTPS');
});

test('config: the dashboard needs its tokens file; HTTPS needs certificate and key together; a non-loopback host needs HTTPS', async () => {
  const problems = async (flags: Record<string, string>): Promise<string> =>
    loadConfig({ flags: { data_dir: '/tmp/x', ...flags }, env: {}, cwd: '/' }).then(() => '', (error: Error) => error.message);
  assert.match(await problems({ dashboard_port: '0' }), /dashboard_port needs dashboard_tokens_file/);
  assert.match(await problems({ dashboard_port: '0', dashboard_cert_file: '/dev/null' }), /dashboard_cert_file and dashboard_key_file together/);
  assert.match(await problems({ dashboard_port: '0', dashboard_host: '0.0.0.0' }), /0\.0\.0\.0 is not loopback: give dashboard_cert_file/);
  assert.is(await problems({ dashboard_port: '0', dashboard_tokens_file: '/dev/null' }), '');
});

test('over HTTPS the session cookie is Secure', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-https-'));
  let dashboard: Dashboard | undefined;
  try {
    await initCertificateAuthority(join(dir, 'ca'), { intermediate: false, days: 1, overwrite: false });
    const issued = await issueFor(join(dir, 'ca'), { kind: 'gateway', hosts: ['localhost', '127.0.0.1'] }, { days: 1, outDirectory: dir, overwrite: false });
    const token = newDashboardToken();
    await writeFile(join(dir, 'tokens.json'), formatDashboardTokens([{ principal: 'operator:alice', sha256: hashDashboardToken(token) }]));
    dashboard = await Dashboard.open({
      config: { dashboard_port: 0, dashboard_host: '127.0.0.1', dashboard_cert_file: issued.certificateFile, dashboard_key_file: issued.keyFile, dashboard_tokens_file: join(dir, 'tokens.json') },
      logger: { debug() {}, info() {}, warn() {}, error() {} }, audit: () => {}, now: () => new Date(), root: join(dir, 'public'),
    });
    const { port } = dashboard.address();
    assert.is(dashboard.url(), `https://127.0.0.1:${port}/`);
    const ca = await readFile(join(dir, 'ca', 'ca.crt'), 'utf8');
    const answer = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
      const body = JSON.stringify({ token });
      const request = httpsRequest({
        host: '127.0.0.1', port, path: '/api/login', method: 'POST', ca,
        headers: { Origin: `https://127.0.0.1:${port}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      }, (response) => {
        response.resume();
        resolve({ status: response.statusCode ?? 0, cookie: String(response.headers['set-cookie'] ?? '') });
      });
      request.on('error', reject);
      request.end(body);
    });
    assert.is(answer.status, 204);
    assert.match(answer.cookie, /; HttpOnly; SameSite=Strict; Path=\/; Secure$/);
  } finally {
    await dashboard?.endpoint.close();
    await dashboard?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('logout aborts the session\'s WebSockets; connections past the bound per principal are refused with 503', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-dashboard-'));
  let dashboard: Dashboard | undefined;
  try {
    const token = newDashboardToken();
    await writeFile(join(dir, 'tokens.json'), formatDashboardTokens([{ principal: 'operator:alice', sha256: hashDashboardToken(token) }]));
    dashboard = await Dashboard.open({
      config: { dashboard_port: 0, dashboard_host: '127.0.0.1', dashboard_cert_file: null, dashboard_key_file: null, dashboard_tokens_file: join(dir, 'tokens.json') },
      logger: { debug() {}, info() {}, warn() {}, error() {} }, audit: () => {}, now: () => new Date(), root: join(dir, 'public'),
      limits: { connections: { perPrincipal: 2 } },
    });
    const origin = dashboard.url().replace(/\/$/, '');
    const login = await fetch(`${origin}/api/login`, { method: 'POST', headers: { Origin: origin }, body: JSON.stringify({ token }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const url = `${origin.replace('http', 'ws')}/.well-known/coap`;
    const open = (): Promise<{ ws: WebSocket; signals: number[] }> => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'coap', { headers: { Origin: origin, cookie } });
      const signals: number[] = [];
      ws.on('message', (data: Buffer) => signals.push(decodeFrame(data).code));
      ws.once('open', () => resolve({ ws, signals }));
      ws.once('unexpected-response', (_request, response) => reject(new Error(String(response.statusCode))));
    });
    const first = await open();
    await open();
    assert.is(await open().then(() => 'opened', (error: Error) => error.message), '503');
    assert.is(dashboard.connections, 2);
    const closed = new Promise<number>((resolve) => first.ws.once('close', resolve));
    assert.is((await fetch(`${origin}/api/logout`, { method: 'POST', headers: { Origin: origin, cookie } })).status, 204);
    assert.is(await closed, 1008);
    assert.ok(first.signals.includes(SignalCode.Abort), 'an Abort came first');
    await waitFor('both gone', () => dashboard!.connections === 0);
    const page = await fetch(`${origin}/`);
    assert.is(page.status, 500, 'no page built in this root');
    assert.match(await page.text(), /dashboard was not built/);
  } finally {
    await dashboard?.endpoint.close();
    await dashboard?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
