// The dashboard's gateway side on the real gateway process (issue 15): login with the token
// `keys generate` wrote, CoAP over WebSocket (RFC 8323 §4) with the `ws` client and the
// session cookie, CSM and Ping, GET /nodes, an observation of /nodes that hears a real
// agent register, the audit naming the operator, the access table applying to WebSocket
// requests as to DTLS ones, and the refusals: a wrong token, a foreign Origin on login and
// upgrade, no cookie, an oversized message, too many logins.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { dashboardTokenFile } from '../../src/fleet/dashboard-tokens.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { getUintOption, OptionNumber, stringOption, uintOption, type CoapOption } from '../../src/protocol/options.js';
import { decodeFrame, encodeFrame, SignalCode, type FramedMessage } from '../../src/protocol/ws-framing.js';
import { withFleet } from '../helpers/fleet.js';
import { waitFor } from '../helpers/wait.js';

const EMPTY = Buffer.alloc(0);

/** A CoAP-over-WebSocket client as a browser page would be: every message it received. */
class CoapSocket {
  readonly received: FramedMessage[] = [];
  closeCode: number | undefined;
  readonly #ws: WebSocket;
  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer) => this.received.push(decodeFrame(data)));
    ws.on('close', (code) => { this.closeCode = code; });
  }
  /** Opens one, or rejects with the HTTP status of a refused upgrade. */
  static open(url: string, headers: Record<string, string>): Promise<CoapSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'coap', { headers });
      const socket = new CoapSocket(ws);
      ws.once('open', () => resolve(socket));
      ws.once('unexpected-response', (_request, response) => reject(Object.assign(new Error(`refused ${response.statusCode}`), { status: response.statusCode })));
      ws.once('error', reject);
    });
  }
  send(code: number, token: string, options: CoapOption[] = [], payload = EMPTY): void {
    this.#ws.send(encodeFrame({ code, token: Buffer.from(token), options, payload }));
  }
  sendRaw(bytes: Buffer): void {
    this.#ws.send(bytes);
  }
  on(token: string): FramedMessage[] {
    return this.received.filter((message) => message.token.toString() === token && message.code >> 5 !== 7);
  }
  async answer(token: string, count = 1): Promise<FramedMessage> {
    await waitFor(`answer ${count} on ${token}`, () => this.on(token).length >= count);
    return this.on(token)[count - 1]!;
  }
  close(): void {
    this.#ws.close();
  }
}

const path = (text: string): CoapOption[] => text.split('/').filter(Boolean).map((segment) => stringOption(OptionNumber.UriPath, segment));
const json = (message: FramedMessage): unknown => JSON.parse(message.payload.toString('utf8'));
const statusOf = (error: unknown): number | undefined => (error as { status?: number }).status;

test('login, CoAP over WebSocket through the gateway\'s router, Observe, audit and every refusal, on the real gateway', async () => {
  await withFleet({ name: 'dashboard', nodeIds: ['node-1'] }, async (fleet) => {
    await fleet.startGateway({
      env: { COAP_FLEET_SERVER_DASHBOARD_PORT: '0', COAP_FLEET_SERVER_DASHBOARD_TOKENS_FILE: join(fleet.keysDir, 'dashboard-tokens.json') },
    });
    const { dashboard_port: port } = JSON.parse(readFileSync(join(fleet.dir, 'gateway.ready'), 'utf8')) as { dashboard_port: number };
    const origin = `http://127.0.0.1:${port}`;
    const token = readFileSync(join(fleet.keysDir, dashboardTokenFile('admin')), 'utf8').trim();
    const login = (body: unknown, from = origin): Promise<Response> =>
      fetch(`${origin}/api/login`, { method: 'POST', headers: { Origin: from, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

    // Login: a foreign Origin, a wrong token, then the right one.
    assert.is((await login({ token }, 'http://evil.example')).status, 403, 'foreign Origin');
    const wrong = await login({ token: 'not-the-token' });
    assert.is(wrong.status, 401);
    assert.ok(typeof ((await wrong.json()) as { error?: unknown }).error === 'string');
    const good = await login({ token });
    assert.is(good.status, 204);
    const setCookie = good.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^coap_fleet_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
    const cookie = setCookie.split(';')[0]!;
    const session = await fetch(`${origin}/api/session`, { headers: { cookie } });
    assert.equal(await session.json(), { principal: 'operator:admin' });
    assert.match(session.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/);
    assert.is(session.headers.get('x-content-type-options'), 'nosniff');
    assert.is((await fetch(`${origin}/api/session`)).status, 401, 'no cookie, no session');

    // The upgrade: no cookie 401, a foreign Origin 403, neither upgraded.
    const url = `ws://127.0.0.1:${port}/.well-known/coap`;
    assert.is(await CoapSocket.open(url, { Origin: origin }).then(() => 0, statusOf), 401);
    assert.is(await CoapSocket.open(url, { Origin: 'http://evil.example', cookie }).then(() => 0, statusOf), 403);

    const ws = await CoapSocket.open(url, { Origin: origin, cookie });
    await waitFor('the gateway\'s CSM', () => ws.received.length >= 1);
    assert.is(ws.received[0]!.code, SignalCode.CSM, 'the CSM comes first');
    assert.ok((getUintOption(ws.received[0]!.options, 2) ?? 0) >= 65536);
    ws.send(SignalCode.CSM, '', [uintOption(2, 1 << 20)]);
    ws.send(SignalCode.Ping, 'pi');
    await waitFor('the Pong', () => ws.received.some((message) => message.code === SignalCode.Pong && message.token.toString() === 'pi'));

    ws.send(Method.GET, 'n1', path('/nodes'));
    const nodes = await ws.answer('n1');
    assert.is(nodes.code, ResponseCode.Content);
    assert.is(getUintOption(nodes.options, OptionNumber.ContentFormat), 50);
    assert.equal(json(nodes), { nodes: [] });

    // A live view: /nodes observed; a real agent registering is the change.
    ws.send(Method.GET, 'ob', [uintOption(OptionNumber.Observe, 0), ...path('/nodes')]);
    const first = await ws.answer('ob');
    assert.ok(getUintOption(first.options, OptionNumber.Observe) !== undefined, 'registered');
    await fleet.startAgent('node-1');
    await waitFor('a notification listing node-1', () =>
      ws.on('ob').some((message) => (json(message) as { nodes: { node_id: string }[] }).nodes.some((node) => node.node_id === 'node-1')), 60_000);

    // The access table applies as over DTLS: an operator may not write a node's health.
    ws.send(Method.PUT, 'hp', path('/nodes/node-1/health'), Buffer.from('{}'));
    assert.is((await ws.answer('hp')).code, ResponseCode.Forbidden);
    // The audit entry is written after the answer, not before it: asked for until it shows.
    type Audit = { entries: { who: string; action: string; target: string }[] };
    const denied = (audit: Audit): boolean => audit.entries.some((entry) => entry.who === 'operator:admin' && entry.action === 'access.denied' && entry.target === '/nodes/node-1/health');
    let reads = 0;
    const audit = await fleet.until('the denial audited with the operator principal', async () => {
      const token = `au${reads++}`;
      ws.send(Method.GET, token, [...path('/audit'), stringOption(OptionNumber.UriQuery, 'limit=50')]);
      const read = json(await ws.answer(token)) as Audit;
      return denied(read) ? read : undefined;
    }, 10_000);
    assert.ok(audit.entries.some((entry) => entry.who === 'operator:admin' && entry.action === 'dashboard.login'), 'the login is audited');

    // Oversized: past the Max-Message-Size we announced, an Abort and the connection closed.
    const limit = getUintOption(ws.received[0]!.options, 2)!;
    ws.send(Method.PUT, 'big', path('/nodes/node-1'), Buffer.alloc(limit + 1));
    await waitFor('the Abort', () => ws.received.some((message) => message.code === SignalCode.Abort));
    assert.match(ws.received.find((message) => message.code === SignalCode.Abort)!.payload.toString(), /Max-Message-Size/);
    await waitFor('the close', () => ws.closeCode !== undefined);

    // Logout forgets the session: the cookie opens nothing any more.
    assert.is((await fetch(`${origin}/api/logout`, { method: 'POST', headers: { Origin: origin, cookie } })).status, 204);
    assert.is((await fetch(`${origin}/api/session`, { headers: { cookie } })).status, 401);
    assert.is(await CoapSocket.open(url, { Origin: origin, cookie }).then(() => 0, statusOf), 401);

    // Too many logins from one address: 429 with Retry-After (2 counted so far, 10 a minute).
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let attempt = 0; attempt < 10; attempt++) {
      const response = await login({ token: 'guess' });
      statuses.push(response.status);
      retryAfter ??= response.headers.get('retry-after');
    }
    assert.equal(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
    assert.is((await login({ token })).status, 429, 'the right token waits too');
    assert.equal(fleet.unexpectedLines([/dashboard: login refused/, (entry) => entry.msg === 'request denied' && entry.who === 'operator:admin']), []);
  });
});

test.run();
