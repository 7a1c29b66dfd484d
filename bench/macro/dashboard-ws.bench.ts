// What a dashboard watching the fleet costs the gateway (issue 15): a real `coap-fleet
// server` with NODES nodes registered (over plain CoAP on loopback as local tooling may: the
// simulator of branch `sim` had not landed here), and K WebSocket clients (RFC 8323), each
// logged in as an operator of its own and observing /nodes as the page's fleet view does.
// The change: re-registrations at NODES / 300 per second, what NODES agents registering
// every register_interval_s (300 s) cause in steady state; each one notifies /nodes, whose
// representation (every node) is rendered for each observer. Figures: the gateway's CPU
// (utime + stime from /proc) over the window for each K, the cost per client over K = 0,
// and per notification delivered.

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { formatDashboardTokens, hashDashboardToken, newDashboardToken } from '../../src/fleet/dashboard-tokens.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { OptionNumber, stringOption, uintOption } from '../../src/protocol/options.js';
import { decodeFrame, encodeFrame, SignalCode } from '../../src/protocol/ws-framing.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { cpuSeconds } from './proc-stats.js';
import { daemon, until } from './proxy-fleet.js';
import { stopChild } from './servers.js';

const NODES = Number(process.env.DASHBOARD_BENCH_NODES ?? 1000);
const CLIENTS = [0, 1, 4, 16];
const WINDOW_MS = 15_000;
/** Registrations per second: every node once per 300 s. */
const CHANGES_PER_S = NODES / 300;

/** Connections this side is closing (after the window), as opposed to ones the gateway ended. */
const closing = new WeakSet<WebSocket>();

interface Watcher {
  readonly ws: WebSocket;
  notifications: number;
  bytes: number;
  /** The gateway ended the connection (an Abort: too slow a reader, RFC 8323 §5.6). */
  closedByGateway: boolean;
}

/** Logs in from its own loopback address (the login limit counts per address) and
 * returns the session cookie. */
function login(port: number, token: string, localAddress: string): Promise<string> {
  const body = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: '127.0.0.1', port, path: '/api/login', method: 'POST', localAddress,
      headers: { Origin: `http://127.0.0.1:${port}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (response) => {
      response.resume();
      if (response.statusCode !== 204) reject(new Error(`login answered ${response.statusCode}`));
      else resolve(String(response.headers['set-cookie'] ?? '').split(';')[0]!);
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function watch(origin: string, port: number, cookie: string): Promise<Watcher> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/.well-known/coap`, 'coap', { headers: { Origin: origin, cookie } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const watcher: Watcher = { ws, notifications: 0, bytes: 0, closedByGateway: false };
  ws.on('close', () => { watcher.closedByGateway ||= !closing.has(ws); });
  const first = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const message = decodeFrame(data);
      if (message.code !== ResponseCode.Content) return;
      watcher.notifications++;
      watcher.bytes += data.length;
      resolve();
    });
  });
  ws.send(encodeFrame({ code: SignalCode.CSM, token: Buffer.alloc(0), options: [uintOption(2, 8 << 20)], payload: Buffer.alloc(0) }));
  ws.send(encodeFrame({ code: Method.GET, token: Buffer.from('nodes'), options: [uintOption(OptionNumber.Observe, 0), stringOption(OptionNumber.UriPath, 'nodes')], payload: Buffer.alloc(0) }));
  await first;
  return watcher;
}

export const dashboardWsBenchmark: Benchmark = {
  name: 'dashboard-ws',
  async run(report: Report): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-bench-dashboard-'));
    const tokens = Array.from({ length: Math.max(...CLIENTS) }, () => newDashboardToken());
    await writeFile(join(dir, 'tokens.json'), formatDashboardTokens(tokens.map((token, i) => ({ principal: `operator:bench-${i + 1}`, sha256: hashDashboardToken(token) }))));
    const ready = join(dir, 'gateway.ready');
    const gateway = daemon(join(dir, 'gateway.log'), [
      'server', '--data-dir', join(dir, 'gateway'), '--host', '127.0.0.1', '--port', '0', '--ready-file', ready, '--log-level', 'warn',
      '--dashboard-port', '0', '--dashboard-tokens-file', join(dir, 'tokens.json'),
    ]);
    const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
    try {
      const ports = await until('the gateway\'s ready file', gateway, () => (existsSync(ready)
        ? JSON.parse(readFileSync(ready, 'utf8')) as { coap_port: number; dashboard_port: number } : undefined));
      const peer = { address: '127.0.0.1', port: ports.coap_port };
      const register = async (index: number, version: string): Promise<void> => {
        const answer = await client.request({
          peer, path: '/nodes', method: Method.POST, contentFormat: ContentFormat.Json, timeoutMs: 30_000,
          payload: Buffer.from(JSON.stringify({ node_id: `node-${String(index).padStart(5, '0')}`, version, hardware: 'bench', agent_port: 0 })),
        });
        if (answer.code !== ResponseCode.Created && answer.code !== ResponseCode.Changed) throw new Error(`registration answered ${answer.code}`);
      };
      for (let index = 0; index < NODES; index++) await register(index, '1.0.0');
      const origin = `http://127.0.0.1:${ports.dashboard_port}`;
      const cpu: number[] = [];
      let next = 0;
      const cookies = await Promise.all(tokens.map((token, i) => login(ports.dashboard_port, token, `127.0.0.${i + 2}`)));
      for (const count of CLIENTS) {
        const watchers = await Promise.all(cookies.slice(0, count).map((cookie) => watch(origin, ports.dashboard_port, cookie)));
        for (const watcher of watchers) watcher.notifications = watcher.bytes = 0;
        const started = cpuSeconds(gateway.pid!);
        const startedAt = Date.now();
        let changes = 0;
        // Paced re-registrations, each a new version so each changes the list.
        while (Date.now() - startedAt < WINDOW_MS) {
          const due = Math.floor(((Date.now() - startedAt) / 1000) * CHANGES_PER_S);
          while (changes < due) await register(next++ % NODES, changes++ % 2 === 0 ? '1.0.1' : '1.0.0');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const seconds = (Date.now() - startedAt) / 1000;
        const used = cpuSeconds(gateway.pid!) - started;
        cpu.push(used / seconds);
        const label = `${count} clients, ${NODES} nodes, ${CHANGES_PER_S.toFixed(1)} changes/s`;
        report.add('dashboard-ws', OURS, `gateway CPU %, ${label}`, Math.round((used / seconds) * 1000) / 10);
        if (count > 0) {
          const perClient = ((used / seconds) - cpu[0]!) / count;
          report.add('dashboard-ws', OURS, `gateway CPU ms per client-second, ${label}`, Math.round(perClient * 10_000) / 10);
          const notifications = watchers.reduce((sum, watcher) => sum + watcher.notifications, 0) / count / seconds;
          const bytes = watchers.reduce((sum, watcher) => sum + watcher.bytes, 0) / count / seconds;
          report.add('dashboard-ws', OURS, `notifications/s per client, ${label}`, Math.round(notifications * 10) / 10);
          // Per notification delivered: the figure that does not move when a starved
          // gateway coalesces changes (RFC 7641 §4.5.2: newest state only).
          const delivered = watchers.reduce((sum, watcher) => sum + watcher.notifications, 0);
          report.add('dashboard-ws', OURS, `gateway CPU ms per notification, ${label}`, Math.round(((used - cpu[0]! * seconds) / delivered) * 10_000) / 10);
          report.add('dashboard-ws', OURS, `KiB/s per client, ${label}`, Math.round(bytes / 1024));
          report.add('dashboard-ws', OURS, `connections aborted by the gateway, ${label}`, watchers.filter((watcher) => watcher.closedByGateway).length);
        }
        for (const watcher of watchers) {
          closing.add(watcher.ws);
          watcher.ws.close();
        }
      }
    } finally {
      await client.close();
      await stopChild(gateway);
      await rm(dir, { recursive: true, force: true });
    }
  },
};
