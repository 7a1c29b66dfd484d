// `coap-fleet node …` as a real process against a stand-in gateway in this process
// (test/helpers/stand-in-gateway.ts: a real CoAP endpoint on loopback serving /nodes/{id}/…
// as the gateway will; the gateway's real forwarding is being written by another engineer
// as this is): tables and --json, logs followed until SIGINT, signed commands verified by
// the stand-in's agents with the operator's public key, over DTLS with the command key
// found beside the credentials file; exit statuses 0, 1 (the node's refusal, with its
// reason) and 2 (usage, no command key, no --yes without a terminal).

import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandResultView, LogEntry, MetricsView, NodeConfigView } from '../../src/fleet/node-views.js';
import type { HealthView } from '../../src/fleet/views.js';
import { generateKeys } from '../../src/operator/keys.js';
import { runCli } from '../helpers/cli.js';
import { startStandInGateway, type StandInGateway } from '../helpers/stand-in-gateway.js';
import { ensureWasm } from '../helpers/wasm.js';

await ensureWasm();

let dir: string;
let keys: string;
let commandKey: string;
let standIn: StandInGateway;
let gatewayFlags: string[];
/** No command key from this process's environment. */
const NO_KEY_ENV = { COAP_FLEET_COMMAND_KEY: undefined };

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-cli-node-'));
  keys = join(dir, 'keys');
  await generateKeys(keys, ['node-1'], 'admin', false);
  commandKey = join(keys, 'operator-command.key');
  standIn = await startStandInGateway({
    operatorPublicKey: await readFile(join(keys, 'operator-command.pub'), 'utf8'), nodeIds: ['node-1', 'node-2', 'node-3'], misroute: { 'node-3': 'node-1' },
  });
  gatewayFlags = ['--gateway', standIn.uri];
});

test.after(async () => {
  await standIn.close();
  await rm(dir, { recursive: true, force: true });
});

const node = (args: readonly string[], env: Readonly<Record<string, string | undefined>> = NO_KEY_ENV) =>
  runCli(['node', ...args, ...gatewayFlags], { env });

test('health, metrics, services, config and logs: tables for people, one JSON document with --json', async () => {
  const health = await node(['node-1', 'health']);
  assert.is(health.status, 0, health.stderr);
  assert.match(health.stdout, /^STATUS +healthy$/m);
  assert.match(health.stdout, /^UPTIME +1d 2h 3m$/m);
  const healthJson = await node(['node-1', 'health', '--json']);
  assert.is((JSON.parse(healthJson.stdout) as HealthView).health?.cpu_percent, 12.5);

  const metrics = await node(['node-1', 'metrics']);
  assert.is(metrics.status, 0, metrics.stderr);
  assert.match(metrics.stdout, /^MEMORY +50\.0 % of 1\.0 GiB \(512\.0 MiB available\)$/m);
  assert.match(metrics.stdout, /^MOUNT +SIZE +FREE +USED%\n\/ +8\.0 GiB +2\.0 GiB +75\.0$/m);
  assert.match(metrics.stdout, /^eth0 +1\.5 KiB +2\.0 KiB$/m);
  assert.not.match(metrics.stdout, /^AT /m, 'a line per sample only with --since');
  const since = await node(['node-1', 'metrics', '--since', '2026-12-06T20:30:00+01:00']);
  assert.match(since.stdout, /^AT +CPU% +MEM% +LOAD +TEMP\n2026-12-06T19:59:50Z +99\.0 +50\.0 +0\.50 +-\n/m);
  assert.equal(standIn.requests.at(-1)!.query, ['since=2026-12-06T19:30:00Z']);
  const history = await node(['node-1', 'metrics', '--since', '10m', '--json']);
  assert.ok(Array.isArray((JSON.parse(history.stdout) as MetricsView).samples));
  assert.match(standIn.requests.at(-1)!.query[0]!, /^since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const services = await node(['node-1', 'services']);
  assert.match(services.stdout, /^NAME +STATE +SUB-STATE +SINCE +RESTARTS\ndemo-app\.service +active +running +2026-12-06T20:00:00Z +0$/m);

  const config = await node(['node-1', 'config', '--json']);
  assert.is((JSON.parse(config.stdout) as NodeConfigView).settings.metrics_interval_s, 10);

  const logs = await node(['node-1', 'logs', '--priority', 'err', '--lines', '5']);
  assert.is(logs.status, 0, logs.stderr);
  assert.equal(standIn.requests.at(-1)!.query, ['priority=3', 'lines=5']);
  // A message's line break stays on its line.
  assert.match(logs.stdout, /^2026-12-06T19:59:59Z +demo-app\.service +err +disk\\nalmost full$/m);
});

test('logs --follow --json prints one entry per line as they come, and exits 0 on SIGINT', async () => {
  let appended = false;
  const result = await runCli(['node', 'node-2', 'logs', '--follow', '--json', ...gatewayFlags], {
    env: NO_KEY_ENV,
    onStdout: (stdout, child) => {
      const lines = stdout.split('\n').filter((line) => line !== '');
      if (lines.length === 2 && !appended) {
        appended = true;
        standIn.appendLogs('node-2', [{ at: '2026-12-06T20:00:05Z', unit: 'demo-app.service', priority: 4, message: 'new' }]);
      }
      if (lines.length === 3) child.kill('SIGINT');
    },
  });
  assert.is(result.status, 0, result.stderr);
  const entries = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as LogEntry);
  assert.equal(entries.map((entry) => entry.message), ['started', 'disk\nalmost full', 'new']);
});

test('signed commands: accepted ones print the result; the node\'s refusal exits 1 with its reason', async () => {
  const restart = await node(['node-1', 'service', 'demo-app.service', 'restart', '--command-key', commandKey]);
  assert.is(restart.status, 0, restart.stderr);
  assert.is(restart.stdout, 'node-1: service.restart done: demo-app.service active\n');
  assert.equal(standIn.accepted.at(-1)!.args, { name: 'demo-app.service' });

  const set = await node(['node-1', 'config', 'set', 'metrics_interval_s=5', 'allowed_units=a.service,b.service', '--json'], { COAP_FLEET_COMMAND_KEY: commandKey });
  assert.is(set.status, 0, set.stderr);
  assert.is((JSON.parse(set.stdout) as CommandResultView).action, 'config.set');
  assert.equal(standIn.accepted.at(-1)!.args, { metrics_interval_s: 5, allowed_units: ['a.service', 'b.service'] });

  const reboot = await node(['node-2', 'reboot', '--yes', '--command-key', commandKey]);
  assert.is(reboot.status, 0, reboot.stderr);
  assert.is(reboot.stdout, 'node-2: restart scheduled: restart in 1 s\n');

  const misrouted = await node(['node-3', 'shutdown', '--yes', '--command-key', commandKey]);
  assert.is(misrouted.status, 1, misrouted.stderr);
  assert.match(misrouted.stderr, '4.03 Forbidden: other-node: the command is for node-3, this is node-1');
  const unknownSetting = await node(['node-1', 'config', 'set', 'colour=blue', '--command-key', commandKey]);
  assert.is(unknownSetting.status, 1);
  assert.match(unknownSetting.stderr, '4.00 Bad Request: colour: not a setting');
});

test('usage mistakes exit 2: no command key, no --yes without a terminal, a bad verb, value or flag', async () => {
  const count = standIn.accepted.length;
  const noKey = await node(['node-1', 'service', 'demo-app.service', 'stop']);
  assert.is(noKey.status, 2, noKey.stderr);
  assert.match(noKey.stderr, 'a signed command needs the operator\'s command key: give --command-key FILE, set COAP_FLEET_COMMAND_KEY');
  const missingKey = await node(['node-1', 'reboot', '--yes', '--command-key', join(dir, 'absent.key')]);
  assert.is(missingKey.status, 2);
  assert.match(missingKey.stderr, 'ENOENT');
  const noYes = await node(['node-1', 'reboot', '--command-key', commandKey]);
  assert.is(noYes.status, 2);
  assert.match(noYes.stderr, 'without one, give --yes');
  for (const [args, message] of [
    [['node-1', 'restart'], 'expected: node ID [show]|health|metrics|services|logs|service|config|reboot|shutdown, not "restart"'],
    [['node-1', 'service', 'demo-app.service', 'kill', '--command-key', commandKey], 'expected: service NAME start|stop|restart'],
    [['node-1', 'config', 'set', 'metrics_interval_s=often', '--command-key', commandKey], 'metrics_interval_s is a number, not "often"'],
    [['node-1', 'health', '--follow'], '--follow does not go with health'],
    [['node-1', 'logs', '--since', 'yesterday'], '--since must be an RFC 3339 time'],
    [['node-1', 'logs', '--priority', 'loud'], '--priority must be 0-7'],
    [['../etc', 'health'], 'not a valid node id'],
  ] as const) {
    const result = await node(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
  assert.is(standIn.accepted.length, count, 'nothing was sent');
});

test('over DTLS with --credentials, the command key beside it signs: no --command-key needed', async () => {
  const table = JSON.parse(await readFile(join(keys, 'gateway-psk.json'), 'utf8')) as Record<string, string>;
  const secure = await startStandInGateway({
    operatorPublicKey: await readFile(join(keys, 'operator-command.pub'), 'utf8'), nodeIds: ['node-1'],
    psk: new Map(Object.entries(table).map(([identity, hex]) => [identity, Buffer.from(hex, 'hex')])),
  });
  try {
    const result = await runCli(['node', 'node-1', 'service', 'demo-app.service', 'stop', '--gateway', secure.uri, '--credentials', join(keys, 'operator-admin.json')], { env: NO_KEY_ENV });
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout, 'node-1: service.stop done: demo-app.service inactive\n');
    assert.is(secure.accepted.length, 1);
  } finally {
    await secure.close();
  }
});

test.run();
