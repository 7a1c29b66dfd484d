// The gateway's /system resources in process (real UDP, simulated DTLS identities, real
// LMDB): /system/config shows the running settings; a PUT is checked by the config loader
// (a bad value, an unknown or fixed setting, a clear level above its threshold: 4.00),
// kept in data_dir, applied at once where it can be (alert thresholds, log level) and
// otherwise at the next start; /system/restart is answered, audited, then the gateway
// stops. Operators only. (Exit statuses: test/integration/gateway-system.test.ts.)

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { AlertRecord } from '../../../src/server/alert-rules.js';
import { waitFor } from '../../helpers/wait.js';
import { bodyOf, startTestGateway, unexpectedLogs } from './gateway-harness.js';

type ConfigView = { settings: Record<string, unknown>; live: string[]; pending: Record<string, unknown>; applied?: string[]; at_restart?: string[] };
const registration = { node_id: 'n1', version: '1.0.0', hardware: 'cortex-a55', agent_port: 0 };
const health = (cpu: number) => ({ status: 'healthy', cpu_percent: cpu, memory_percent: 20, temperature: null, uptime_s: 100, timestamp: new Date().toISOString() });
const diagnostic = (payload: Buffer): string => payload.toString('utf8');

test('/system/config: shown to operators; bad changes are 4.00 naming the problem; nodes are refused', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    const view = bodyOf<ConfigView>(await gw.request(operator, 'GET', '/system/config'));
    assert.equal([view.settings.log_level, view.settings.alert_disk_percent, view.settings.health_interval_s, view.pending], ['debug', 90, 30, {}]);
    assert.ok(view.live.includes('alert_cpu_percent') && view.live.includes('log_level') && !view.live.includes('port'));

    const refused = async (body: unknown, pattern: RegExp) => {
      const response = await gw.request(operator, 'PUT', '/system/config', body);
      assert.is(response.code, ResponseCode.BadRequest, JSON.stringify(body));
      assert.match(diagnostic(response.payload), pattern);
    };
    await refused({ alert_cpu_percent: 150 }, /alert_cpu_percent .*must be a number from 0 to 100/);
    await refused({ alert_cpu_clear_percent: 95 }, /alert_cpu_clear_percent \(95\) must not be above alert_cpu_percent \(90\)/);
    await refused({ log_level: 'loud' }, /log_level .*must be one of/);
    await refused({ data_dir: '/tmp/elsewhere' }, /unknown field "data_dir"/);
    await refused({ colour: 'blue' }, /unknown field "colour"/);
    await refused({ dtls_port: 5684 }, /dtls_port needs credentials/);
    assert.is((await gw.request(n1, 'GET', '/system/config')).code, ResponseCode.Forbidden);
    assert.is((await gw.request(n1, 'PUT', '/system/config', { log_level: 'info' })).code, ResponseCode.Forbidden);
    assert.is((await gw.request(n1, 'POST', '/system/restart')).code, ResponseCode.Forbidden);
    assert.is((await gw.request(n1, 'POST', '/system/shutdown')).code, ResponseCode.Forbidden);
    assert.equal(bodyOf<ConfigView>(await gw.request(operator, 'GET', '/system/config')).settings, view.settings, 'nothing changed');
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('a change applies the thresholds and the log level at once, the rest at the next start; kept across a restart', async () => {
  let gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration);
    await gw.request(n1, 'PUT', '/nodes/n1/health', health(60));
    assert.equal(bodyOf<{ alerts: AlertRecord[] }>(await gw.request(operator, 'GET', '/alerts')).alerts, [], '60 % is under the default 90');
    assert.is(gw.logger.level, 'debug', 'the level the harness starts with');

    const response = await gw.request(operator, 'PUT', '/system/config', { alert_cpu_percent: 50, alert_cpu_for_s: 0, alert_cpu_clear_percent: 40, log_level: 'info', audit_max_entries: 500 });
    assert.is(response.code, ResponseCode.Changed);
    const change = bodyOf<ConfigView>(response);
    assert.equal(change.applied?.sort(), ['alert_cpu_clear_percent', 'alert_cpu_for_s', 'alert_cpu_percent', 'log_level']);
    assert.equal([change.at_restart, change.pending, change.settings.audit_max_entries], [['audit_max_entries'], { audit_max_entries: 500 }, 1000]);
    const linesBefore = gw.logs.length;
    await gw.request(n1, 'PUT', '/nodes/n1/health', health(60));
    const [alert] = bodyOf<{ alerts: AlertRecord[] }>(await gw.request(operator, 'GET', '/alerts')).alerts;
    assert.equal([alert?.kind, alert?.detail.startsWith('cpu_percent 60 > 50')], ['cpu_high', true], 'the new threshold, at once');
    assert.is(gw.logger.level, 'info', 'the new level, at once');
    assert.equal(gw.logs.slice(linesBefore).filter((line) => line.level === 'debug'), [], 'debug lines no more');
    assert.ok(gw.gateway.store.recentAudit(10).some((entry) => entry.action === 'gateway.config' && entry.who === 'operator:alice'));
    const overlay = JSON.parse(await readFile(join(gw.dataDir, 'config-overlay.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(overlay, { alert_cpu_percent: 50, alert_cpu_for_s: 0, alert_cpu_clear_percent: 40, log_level: 'info', audit_max_entries: 500 });

    gw = await gw.restart();
    const again = await gw.client('operator:alice');
    const after = bodyOf<ConfigView>(await gw.request(again, 'GET', '/system/config'));
    assert.equal([after.settings.alert_cpu_percent, after.settings.log_level, after.settings.audit_max_entries, after.pending], [50, 'info', 500, {}]);
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('new health and offline intervals apply at once: a node silent past them goes offline', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration);
    const online = async () => bodyOf<{ online: boolean }>(await gw.request(operator, 'GET', '/nodes/n1')).online;
    assert.is(await online(), true);
    const change = bodyOf<ConfigView>(await gw.request(operator, 'PUT', '/system/config', { health_interval_s: 0.05, offline_after_intervals: 1 }));
    assert.equal(change.applied?.sort(), ['health_interval_s', 'offline_after_intervals']);
    await waitFor('n1 offline', () => gw.logs.some((line) => line.msg === 'node offline' && line.node === 'n1'));
    assert.is(await online(), false);
  } finally {
    await gw.close();
  }
});

test('POST /system/restart is answered 2.04 and audited, then the gateway stops', async () => {
  let gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const response = await gw.request(operator, 'POST', '/system/restart');
    assert.equal([response.code, response.payload.length], [ResponseCode.Changed, 0]);
    assert.is(await gw.gateway.stopRequested, 'restart');
    await gw.gateway.stop();
    assert.is(gw.gateway.state, 'stopped');
    gw = await gw.restart();
    assert.ok(gw.gateway.store.recentAudit(5).some((entry) => entry.action === 'gateway.restart' && entry.who === 'operator:alice'), 'the audit entry survived the stop');
  } finally {
    await gw.close();
  }
});

test.run();
