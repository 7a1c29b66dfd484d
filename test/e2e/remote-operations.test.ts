// An operator's remote operations on a node (issue 11), real processes over DTLS on
// loopback: the real `coap-fleet node …` program reads the node's services, logs,
// metrics and config through the real gateway, follows its logs (a line appended to the
// node's log file arrives), restarts an allowed unit through the command adapter's script
// (its restart count changes, seen through GET), and changes the node's settings with
// signed config.set commands, seen applied: debug lines in the agent's log, metrics
// samples at the new pace in the gateway's history. Then two operators observe the node's
// logs and metrics and the agent sees one upstream observation (its own debug log counts).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendDemoLog } from '../../src/cli/demo-remote-ops.js';
import type { LogEntry, MetricsView, NodeConfigView, ServicesView } from '../../src/fleet/node-views.js';
import { openGateway, type GatewayClient } from '../../src/operator/gateway-client.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import type { Observation } from '../../src/protocol/observe-client.js';
import { withFleet } from '../helpers/fleet.js';
import { cliJson, nodeCli, observeRegistrations, startRemoteNode, unitState } from '../helpers/remote-node.js';

const NODE = 'node-1';
const UNIT = 'demo-app.service';

test('through the gateway an operator reads services, logs, metrics and config, follows the logs, restarts a unit and changes settings, each seen applied; two observing operators are one observation at the agent', async () => {
  await withFleet({ name: 'remote-ops', nodeIds: [NODE] }, async (fleet) => {
    await fleet.startGateway();
    const node = await startRemoteNode(fleet, NODE);
    await fleet.waitForNodes([NODE], 30_000);
    const cli = (args: readonly string[]) => nodeCli(fleet, [NODE, ...args]);

    // Reads: each is the agent's own answer, forwarded (metrics: the gateway's history of
    // the samples it observes at the agent).
    const services = cliJson<ServicesView>(await cli(['services', '--json']), 'node services');
    assert.equal(services.services.map((service) => [service.name, service.active_state, service.restarts]),
      [['demo-app.service', 'active', 0], ['demo-worker.service', 'active', 0]], JSON.stringify(services));
    const table = await cli(['services']);
    assert.match(table.stdout, /^demo-app\.service +active +running +\S+ +0$/m, table.stdout);
    const logs = cliJson<{ entries: LogEntry[] }>(await cli(['logs', '--json']), 'node logs');
    assert.ok(logs.entries.some((entry) => entry.message === `${NODE}: listening on :8080` && entry.unit === 'demo-app.log'), JSON.stringify(logs.entries));
    const warnings = cliJson<{ entries: LogEntry[] }>(await cli(['logs', '--priority', 'warning', '--json']), 'node logs --priority');
    assert.equal(warnings.entries.map((entry) => entry.message), [`${NODE}: cache warm-up took 1.2 s (slow)`]);
    const config = cliJson<NodeConfigView>(await cli(['config', '--json']), 'node config');
    assert.is(config.settings.metrics_interval_s, 5);
    assert.is(config.settings.log_level, 'info');
    assert.ok(config.live.includes('metrics_interval_s') && config.live.includes('log_level'), JSON.stringify(config.live));
    const metrics = await fleet.until('a metrics sample of node-1 in the gateway\'s history', async () => {
      const view = cliJson<MetricsView>(await cli(['metrics', '--json']), 'node metrics');
      return view.samples.length > 0 ? view : undefined;
    }, 30_000);
    const sample = metrics.samples.at(-1)!;
    assert.ok(sample.memory_total_bytes > 0 && sample.disks.length > 0 && sample.uptime_s > 0, JSON.stringify(sample));

    // Follow: a line appended to the node's log file after the follow began arrives.
    const marker = `followed line ${Date.now()}`;
    let appended = false;
    const followed = await nodeCli(fleet, [NODE, 'logs', '--follow', '--json'], {
      killAfterMs: 30_000,
      onStdout: (stdout, child) => {
        // The first entries are the current page: the observation is in place.
        if (!appended && stdout.includes('\n')) {
          appended = true;
          void appendDemoLog(node, 4, `${NODE}: ${marker}`);
        }
        if (stdout.includes(marker)) child.kill('SIGINT');
      },
    });
    assert.is(followed.status, 0, `logs --follow ended ${followed.status ?? followed.signal}: ${followed.stderr}\n${followed.stdout.slice(-400)}`);
    const entries = followed.stdout.trim().split('\n').map((line) => JSON.parse(line) as LogEntry);
    assert.is(entries.filter((entry) => entry.message === `${NODE}: ${marker}`).length, 1, followed.stdout);
    console.log(`logs --follow: the appended line arrived ${followed.elapsedMs} ms after the program started`);

    // A signed restart of an allowed unit: the script ran once, the count shows through GET.
    const restart = await cli(['service', UNIT, 'restart']);
    assert.is(restart.status, 0, restart.stderr);
    assert.is(restart.stdout, `${NODE}: service.restart done: restart ${UNIT} finished\n`);
    assert.is(unitState(node, UNIT)?.restarts, 1, 'the service script ran restart once');
    const after = cliJson<ServicesView>(await cli(['services', '--json']), 'node services after the restart');
    assert.equal(after.services.find((service) => service.name === UNIT)?.restarts, 1, JSON.stringify(after));
    assert.ok(fleet.agent(NODE).entries().some((entry) => entry.msg === 'command accepted' && entry.action === 'service.restart'));

    // log_level=debug, applied live: GET shows it and debug lines follow in the agent's log.
    const debugFrom = fleet.agent(NODE).entries().length;
    const setLevel = await cli(['config', 'set', 'log_level=debug']);
    assert.is(setLevel.status, 0, setLevel.stderr);
    assert.is(cliJson<NodeConfigView>(await cli(['config', '--json']), 'node config').settings.log_level, 'debug');
    await fleet.until('debug lines in node-1\'s log', () => (fleet.agent(NODE).entries().slice(debugFrom).some((entry) => entry.level === 'debug') ? true : undefined), 30_000);

    // metrics_interval_s=1, applied live: samples reach the gateway's history at the new
    // pace (5 s before).
    const setAt = Date.now();
    const setInterval = await cli(['config', 'set', 'metrics_interval_s=1', '--json']);
    assert.is(setInterval.status, 0, setInterval.stderr);
    assert.is(cliJson<NodeConfigView>(await cli(['config', '--json']), 'node config').settings.metrics_interval_s, 1);
    const paced = await fleet.until('5 samples of node-1 after the change', async () => {
      const view = cliJson<MetricsView>(await cli(['metrics', '--since', new Date(setAt).toISOString(), '--json']), 'node metrics --since');
      return view.samples.length >= 5 ? view.samples : undefined;
    }, 60_000);
    const times = paced.map((entry) => Date.parse(entry.at));
    const gaps = times.slice(1).map((time, index) => time - times[index]!);
    // Some gap may hold the sample in flight at the change; most are the new second.
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    assert.ok(median <= 2_000, `samples ${gaps.join(', ')} ms apart after metrics_interval_s=1`);
    console.log(`metrics after metrics_interval_s=1: ${gaps.join(', ')} ms apart`);

    // Two operators (two DTLS sessions) observe the node's logs and metrics: the agent sees
    // one registration of /logs (the gateway's shared one, RFC 7641 §1.2) and none more of
    // /metrics (the gateway's monitor observes it since the node connected, before the
    // debug level: its registration is not in the log). Counted in the agent's own log.
    const agent = fleet.agent(NODE);
    assert.equal(observeRegistrations(agent, '/logs'), [], 'no /logs observation since the debug level');
    const first = await fleet.operator();
    const second = await openGateway({ gateway: fleet.gatewayUri, credentials: fleet.operatorCredentials });
    try {
      const watchers = await Promise.all([first, second].flatMap((client) => ['logs', 'metrics'].map((what) => watch(client, `/nodes/${NODE}/${what}`))));
      const [logsA, , logsB] = watchers;
      const shared = `shared line ${Date.now()}`;
      await appendDemoLog(node, 6, `${NODE}: ${shared}`);
      for (const [name, watcher] of [['first', logsA!], ['second', logsB!]] as const) {
        await fleet.until(`the ${name} operator notified of the appended line`, () => (watcher.bodies.some((body) => body.includes(shared)) ? true : undefined), 30_000);
      }
      for (const watcher of [watchers[1]!, watchers[3]!]) {
        await fleet.until('two metrics notifications for each operator', () => (watcher.bodies.length >= 3 ? true : undefined), 30_000);
      }
      const logRegistrations = observeRegistrations(agent, '/logs');
      assert.is(logRegistrations.length, 1, `the agent saw ${JSON.stringify(logRegistrations)} for two operators`);
      assert.equal(observeRegistrations(agent, '/metrics'), [], 'no upstream /metrics observation for the operators');
      // The last operator leaving ends the upstream one at the agent.
      await Promise.all(watchers.map((watcher) => watcher.observation.cancel()));
      const [upstream] = logRegistrations;
      await fleet.until('the agent\'s /logs registration ended', () => (agent.entries().some((entry) => entry.token === upstream!.token && entry.to === 'ended') ? true : undefined), 30_000);
    } finally {
      await second.close();
    }

    assert.equal(fleet.unexpectedLines([]), []);
  });
});

interface Watcher {
  readonly observation: Observation;
  /** The first answer and every notification's payload, as text. */
  readonly bodies: string[];
}

/** Observes `path` on the gateway, collecting what arrives until the observation ends. */
async function watch(client: GatewayClient, path: string): Promise<Watcher> {
  const { observation, first } = await client.endpoint.observe({ uri: `${client.base}${path}`, accept: ContentFormat.Json, timeoutMs: 15_000 });
  assert.is(first.code, ResponseCode.Content, `${path}: ${first.payload.toString('utf8')}`);
  const bodies = [first.payload.toString('utf8')];
  void (async () => {
    for await (const notification of observation) bodies.push(notification.payload.toString('utf8'));
  })().catch(() => {});
  return { observation, bodies };
}

test.run();
