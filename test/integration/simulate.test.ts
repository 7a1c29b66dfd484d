// `coap-fleet simulate` as a process against a real gateway process (real DTLS, real
// LMDB): 30 virtual nodes in two workers register, report health, and take a small
// rollout (canary, then all) in which the nodes --fail-rate picked report a failed
// install; the JSON lines' shape; a clean stop on SIGTERM.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pickedToFail, SIMULATED_FAILURE } from '../../src/agent/simulated-installer.js';
import { errorKind } from '../../src/operator/fleet-view.js';
import { Daemon, withFleet } from '../helpers/fleet.js';

const NODES = 30;
const FAIL_RATE = 0.2;
const ids = Array.from({ length: NODES }, (_, i) => `node-${i + 1}`);

type Line = { type: 'progress' | 'summary'; [field: string]: any };

const jsonLines = (sim: Daemon): Line[] => sim.log().split('\n')
  .filter((line) => line.startsWith('{"type":'))
  .map((line) => JSON.parse(line) as Line);

test('30 virtual nodes register, report health and take a rollout; the nodes picked to fail report it; SIGTERM ends with a summary', async () => {
  await withFleet({ nodeIds: ids, name: 'simulate' }, async (fleet) => {
    await fleet.startGateway();
    const sim = Daemon.start('simulate', [
      'simulate', '--gateway', fleet.gatewayUri, '--nodes', String(NODES), '--credentials', join(fleet.keysDir, 'nodes-psk.json'),
      '--health-interval', '1', '--fail-rate', String(FAIL_RATE), '--workers', '2', '--report-every-s', '1', '--view-every-s', '1', '--json',
    ], join(fleet.dir, 'simulate.log'));
    try {
      const online = await fleet.until('every virtual node registered and online, health flowing', () => {
        const last = jsonLines(sim).at(-1);
        sim.checkAlive();
        return last?.gateway?.nodes_online === NODES && last.simulator.registered === NODES && last.simulator.health_samples >= 3 * NODES ? last : undefined;
      }, 90_000);
      assert.is(online.simulator.handshake_failures, 0);
      assert.is(online.workers, 2);
      const nodes = await fleet.nodes();
      assert.equal(nodes.map((node) => node.node_id).sort(), [...ids].sort());
      assert.ok(nodes.every((node) => node.health?.status === 'healthy' && node.hardware === 'coap-fleet simulate'), 'every node\'s health at the gateway');

      const image = await fleet.image('image.bin', 64 * 1024);
      await fleet.publish({ image, version: '2.0.0', targets: ids, policy: { canary: 1, max_parallel_installs: NODES, failure_threshold: NODES } });
      const view = await fleet.waitForStatus('fw-2.0.0', 'every node done', (status) => status.rollout === 'completed', 120_000);
      const failing = ids.filter((id) => pickedToFail(id, 'fw-2.0.0', FAIL_RATE)).sort();
      assert.ok(failing.length > 0 && failing.length < NODES, `${failing.length} picked to fail`);
      const failed = Object.entries(view.nodes).filter(([, entry]) => entry.state === 'failed').map(([id]) => id).sort();
      assert.equal(failed, failing);
      assert.ok(failed.every((id) => view.nodes[id]!.error === SIMULATED_FAILURE));
      assert.is(view.counts.installed, NODES - failing.length);

      // The simulator hears the outcome too, then reads the gateway's view once more.
      await fleet.until('the simulator counting every outcome', () => {
        const last = jsonLines(sim).at(-1);
        return last?.simulator.installed + last?.simulator.install_failed === NODES ? last : undefined;
      }, 30_000);
      const stopped = await sim.stop(30_000);
      assert.is(stopped.code, 0);
      const summary = jsonLines(sim).find((line) => line.type === 'summary');
      assert.ok(summary !== undefined, 'a summary line');
      assert.equal(Object.keys(summary).sort(), ['elapsed_s', 'gateway', 'nodes', 'reason', 'simulator', 'type', 'workers']);
      assert.is(summary.reason, 'stopped by SIGTERM');
      assert.equal(Object.keys(summary.simulator).sort(), [
        'all_registered_s', 'errors', 'handshake_failures', 'handshakes', 'health_reports', 'health_reports_failed', 'health_samples',
        'install_failed', 'installed', 'registered', 'registration_retries', 'rss_mib', 'slowest_first_registration_s', 'start_failures', 'started',
      ]);
      assert.is(summary.simulator.started, NODES);
      assert.is(summary.simulator.installed, NODES - failing.length);
      assert.is(summary.simulator.install_failed, failing.length);
      assert.ok(summary.simulator.handshakes >= NODES);
      assert.equal(summary.gateway.rollouts.map((rollout: { update_id: string }) => rollout.update_id), ['fw-2.0.0']);
      assert.is(summary.gateway.rollouts[0].counts.failed, failing.length);
      assert.equal(summary.gateway.errors, { [errorKind(SIMULATED_FAILURE)]: failing.length });
      assert.equal(sim.unexpectedLines(), []);
    } finally {
      await sim.stop();
    }
  });
});

test.run();
