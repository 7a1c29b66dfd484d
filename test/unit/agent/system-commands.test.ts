// The agent's /system resources driven by signed commands at its own endpoint (UDP
// loopback): PUT /system/config checks every value by the loader's rules, persists the
// change across a restart and applies what it can at once; POST /system/restart and
// /system/shutdown answer first, then stop the agent, then run the configured command (a
// real shell command writing a marker file).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { overlayPath } from '../../../src/agent/settings-overlay.js';
import type { CommandResultView, NodeConfigView } from '../../../src/fleet/node-views.js';
import { formatCode } from '../../../src/protocol/codes.js';
import { waitFor } from '../../helpers/wait.js';
import { CommandWorld, diagnostic } from './command-harness.js';

test('config PUT: a bad value, an unknown or fixed key are 4.00 naming them; nothing changes', async () => {
  const world = await CommandWorld.create();
  try {
    const { agent, log } = await world.start({}, { COAP_FLEET_AGENT_REGISTER_INTERVAL_S: '60' });
    const cases: { args: Record<string, unknown>; reason: RegExp }[] = [
      { args: { log_level: 'loud' }, reason: /^bad-setting: log_level must be one of fatal, error, warn, info, debug, trace, silent, not "loud"$/ },
      { args: { health_interval_s: 0 }, reason: /^bad-setting: health_interval_s must be seconds from 0\.1 to 86400, not 0$/ },
      { args: { helth_interval_s: 3, log_level: 'debug' }, reason: /^bad-setting: helth_interval_s: not a setting$/ },
      { args: { data_dir: '/tmp' }, reason: /^bad-setting: data_dir: not changeable remotely \(these are: log_level, health_interval_s, register_interval_s, metrics_interval_s, allowed_units\)$/ },
      { args: { register_interval_s: 30 }, reason: /^bad-setting: register_interval_s: set on this node by its environment or a flag/ },
      { args: {}, reason: /^bad-setting: no setting given$/ },
    ];
    for (const { args, reason } of cases) {
      const response = await world.send(agent, 'PUT', '/system/config', world.sign('config.set', args as never));
      assert.is(formatCode(response.code), '4.00', JSON.stringify(args));
      assert.match(diagnostic(response), reason);
    }
    assert.ok(agent.commandAudit().every((entry) => entry.outcome === 'refused' && entry.reason?.startsWith('bad-setting: ')));
    assert.is(log.level, 'info', 'the valid half of a refused change is not applied either');
    assert.not.ok(existsSync(overlayPath(world.dataDir)), 'nothing persisted');
  } finally {
    await world.close();
  }
});

test('config PUT: applied live (log level, heartbeat rescheduled), shown by GET, persisted across a restart', async () => {
  const world = await CommandWorld.create();
  try {
    let { agent, log } = await world.start();
    const before = await world.client.request({ uri: `coap://127.0.0.1:${agent.address().port}/system/config` });
    const view = JSON.parse(before.payload.toString()) as NodeConfigView;
    assert.is(view.node_id, 'n1');
    assert.is(view.settings.log_level, 'info');
    assert.is(view.settings.health_interval_s, 300);
    assert.equal(view.live, ['log_level', 'health_interval_s', 'register_interval_s', 'metrics_interval_s', 'allowed_units']);
    assert.is((view.settings.operator_key_ids as string[]).length, 1);
    const shown = JSON.stringify(view);
    for (const secret of ['operator_keys', 'publisher_key', 'psk', 'restart_command', world.dir]) assert.not.ok(shown.includes(secret), `${secret} not shown`);

    // A heartbeat every 300 s: none comes while the test runs, unless the change reschedules it.
    assert.is(world.gateway.health.length, 0);
    const response = await world.send(agent, 'PUT', '/system/config', world.sign('config.set', { log_level: 'debug', health_interval_s: '0.2', register_interval_s: 1 }));
    assert.is(formatCode(response.code), '2.04', diagnostic(response));
    assert.equal(JSON.parse(response.payload.toString()) as CommandResultView, {
      node_id: 'n1', action: 'config.set', outcome: 'done', detail: 'set log_level, health_interval_s, register_interval_s',
    });
    assert.is(log.level, 'debug', 'the logger follows at once');
    await waitFor('heartbeats at the new period', () => world.gateway.health.length >= 2);
    // Registered once at the start; the next one came every 300 s before the change.
    await waitFor('a registration at the new period', () => world.gateway.registrations.length >= 2);
    const after = JSON.parse((await world.client.request({ uri: `coap://127.0.0.1:${agent.address().port}/system/config` })).payload.toString()) as NodeConfigView;
    assert.is(after.settings.health_interval_s, 0.2);
    assert.equal(JSON.parse(await readFile(overlayPath(world.dataDir), 'utf8')), { log_level: 'debug', health_interval_s: 0.2, register_interval_s: 1 });

    await agent.stop();
    ({ agent, log } = await world.start());
    assert.is(log.level, 'debug', 'the overlay outranks the file at the next start');
    assert.is(agent.config.healthIntervalMs, 200);
  } finally {
    await world.close();
  }
});

for (const action of ['restart', 'shutdown'] as const) {
  test(`POST /system/${action}: answered first, then the agent stops, then the ${action} command runs`, async () => {
    const world = await CommandWorld.create();
    try {
      const { agent, logs } = await world.start();
      const marker = join(world.dir, 'marker');
      const response = await world.send(agent, 'POST', `/system/${action}`, world.sign(action));
      // The command has not run when the answer arrives: it runs after the answer is sent.
      assert.not.ok(existsSync(marker), 'the answer came first');
      assert.is(formatCode(response.code), '2.04', diagnostic(response));
      assert.equal(JSON.parse(response.payload.toString()) as CommandResultView, {
        node_id: 'n1', action, outcome: 'scheduled', detail: `the agent stops, then runs the ${action} command`,
      });
      assert.equal(await agent.halted(), { action, ok: true });
      assert.is(await readFile(marker, 'utf8'), `${action}\n`);
      const messages = logs.map((entry) => entry.msg);
      const stopped = messages.indexOf('agent stopped');
      assert.ok(stopped > 0 && stopped < messages.indexOf(`${action} command ran`), 'stopped (state closed) before the command');
    } finally {
      await world.close();
    }
  });
}

test('a restart command that fails is logged at error and reported by halted(), so the daemon exits with a failure status', async () => {
  const world = await CommandWorld.create();
  try {
    const { agent, logs } = await world.start({ restart_command: 'echo no bus >&2; exit 3' });
    const response = await world.send(agent, 'POST', '/system/restart', world.sign('restart'));
    assert.is(formatCode(response.code), '2.04', diagnostic(response));
    assert.equal(await agent.halted(), { action: 'restart', ok: false });
    assert.equal(logs.filter((entry) => entry.level === 'error').map((entry) => entry.msg), ['restart command exited 3: no bus']);
  } finally {
    await world.close();
  }
});

test.run();
