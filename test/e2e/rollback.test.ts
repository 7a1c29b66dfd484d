// A new version that does not take: an install hook that fails (install_adapter command,
// exit 3) and a health check that fails (exit 1). Both agents switch back to the slot
// they ran, report `rolled_back` with the reason, and still run the old version.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withFleet } from '../helpers/fleet.js';

const IMAGE_SIZE = 256 * 1024;
const HOOK = 'node-hook';
const CHECK = 'node-check';

test('a failing install hook and a failing health check: rolled back, reported rolled_back, the old version still running', async () => {
  await withFleet({ name: 'rollback', nodeIds: [HOOK, CHECK] }, async (fleet) => {
    const factory = await fleet.image('factory.bin', IMAGE_SIZE);
    await fleet.seedSlot(HOOK, factory, '1.0.0');
    await fleet.seedSlot(CHECK, factory, '1.0.0');
    await fleet.startGateway();
    await fleet.startAgent(HOOK, { config: { install_adapter: 'command', install_command: 'exit 3' } });
    await fleet.startAgent(CHECK, { config: { health_check_command: 'exit 1' } });
    await fleet.waitForNodes([HOOK, CHECK], 30_000, '1.0.0');

    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
    await fleet.publish({ image, version: '2.0.0', targets: [HOOK, CHECK], policy: { max_parallel_installs: 2, canary: 0, failure_threshold: 2 } });
    const final = await fleet.watch('fw-2.0.0', 60_000);
    assert.is(final.rollout, 'aborted');
    assert.equal(final.nodes[HOOK]!.state, 'rolled_back');
    assert.is(final.nodes[HOOK]!.error, 'install command exited 3');
    assert.equal(final.nodes[CHECK]!.state, 'rolled_back');
    assert.is(final.nodes[CHECK]!.error, 'health check exited 1');

    for (const id of [HOOK, CHECK]) {
      // The new slot was written and switched to, then left.
      const moves = fleet.agent(id).entries().filter((entry) => entry.update_id === 'fw-2.0.0').map((entry) => String(entry.msg));
      assert.ok(moves.includes('switched to the new slot') && moves.includes('switched back to the old slot'), `${id}: ${JSON.stringify(moves)}`);
      assert.equal(await fleet.currentSlot(id), { slot: 'a', sha256: factory.sha256, version: '1.0.0' }, id);
      assert.equal(await fleet.downloads(id), [], id);
    }
    await fleet.waitForNodes([HOOK, CHECK], 10_000, '1.0.0');
    for (const id of [HOOK, CHECK]) {
      await fleet.agent(id).stop();
      const state = await fleet.agentState(id);
      assert.equal(state.slots, { committed: 'a', version: '1.0.0', updateId: null }, id);
      assert.is(state.reported['fw-2.0.0'], 'rolled_back', id);
      assert.is(state.updates.find((update) => update.updateId === 'fw-2.0.0')!.install!.phase, 'rolled-back');
    }
    assert.equal(fleet.unexpectedLines([/^new version failed: rolling back$/]), []);
  });
});

test.run();
