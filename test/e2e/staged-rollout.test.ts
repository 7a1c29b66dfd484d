// A staged rollout with real processes (issue 13): a gateway and three agents over DTLS,
// tagged in their config and by the operator through the CLI; `coap-fleet publish --tags
// --waves --bake --window --group-windows` signs the plan; the second wave is granted only
// after the first node installed and the bake time passed; the node whose group window
// opens a little later downloads at once but installs only once the window opens; `rollout
// status|list|pause|resume|cancel` show and move rollouts. Then a per-wave threshold: the
// first wave's node rolls back and the rollout aborts before the next wave installs; and a
// pause holds real agents that have downloaded until the resume. And a health gate: the
// first wave's node reports a CPU far over its baseline after its install, the rollout
// pauses with the evidence, and a resume lets the next wave through.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MetricsView } from '../../src/fleet/node-views.js';
import type { NodeView, StatusView } from '../../src/fleet/views.js';
import { Method } from '../../src/protocol/codes.js';
import { runCli } from '../helpers/cli.js';
import { withFleet, type Fleet, type LogEntry } from '../helpers/fleet.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const BAKE_S = 3;
const MINUTE = 60_000;

const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);

/** The CLI as the operator, against the fleet's gateway. */
const cli = (fleet: Fleet, args: readonly string[]) =>
  runCli([...args, '--gateway', fleet.gatewayUri, '--credentials', fleet.operatorCredentials], { killAfterMs: 60_000 });

const timeOf = (entry: LogEntry | undefined): number => Date.parse(String(entry?.time));

test('waves in order after the bake time, a node outside its group window downloads but installs only when it opens, and the CLI shows and moves rollouts', async () => {
  await withFleet({ name: 'staged', nodeIds: [...NODES, 'node-9'] }, async (fleet) => {
    const gateway = await fleet.startGateway();
    for (const id of NODES) await fleet.startAgent(id, { config: { tags: ['site-a'] } });
    await fleet.waitForNodes(NODES, 30_000);

    const tagged = await cli(fleet, ['node', 'node-3', 'tag', 'add', 'late']);
    assert.is(tagged.status, 0, tagged.stderr);
    assert.match(tagged.stdout, 'node-3: tags late, site-a');
    const late = await cli(fleet, ['nodes', '--tag', 'late', '--json']);
    assert.equal((JSON.parse(late.stdout) as { nodes: NodeView[] }).nodes.map((node) => node.node_id), ['node-3']);

    // node-3's group window opens at the first whole minute at least 30 s ahead; the
    // others' window is open now. Both last long enough for the rest of the test.
    const now = Date.now();
    const opening = Math.ceil((now + 30_000) / MINUTE) * MINUTE;
    const image = await fleet.image('fw-2.0.0.bin', 64 * 1024);
    const published = await cli(fleet, [
      'publish', '--image', image.path, '--version', '2.0.0', '--tags', 'site-a', '--signing-key', join(fleet.keysDir, 'publisher.key'),
      '--max-parallel', '3', '--waves', '1,100%', '--bake', `${BAKE_S}s`, '--wave-failure-threshold', '1',
      '--window', `daily ${hhmm(now - 2 * MINUTE)}-${hhmm(now + 60 * MINUTE)} UTC`,
      '--group-windows', `late=daily ${hhmm(opening)}-${hhmm(opening + 60 * MINUTE)} UTC`,
    ]);
    assert.is(published.status, 0, published.stderr);
    assert.match(published.stdout, /3 target\(s\), waves 1\/100% baking 3 s/);

    const done = await fleet.watch('fw-2.0.0', 150_000);
    assert.is(done.rollout, 'completed');
    assert.ok(Object.values(done.nodes).every((status) => status.state === 'installed'), JSON.stringify(done.nodes));

    const entries = gateway.entries();
    const granted = (node: string) => timeOf(entries.find((entry) => entry.msg === 'install granted' && entry.node === node));
    const reached = (node: string, state: string) => timeOf(entries.find((entry) => entry.msg === 'node update state' && entry.node === node && entry.to === state));
    const firstInstalled = reached('node-1', 'installed');
    assert.ok(granted('node-2') >= firstInstalled + BAKE_S * 1000, `node-2 granted ${granted('node-2') - firstInstalled} ms after node-1 installed`);
    assert.ok(reached('node-3', 'downloaded') < opening, 'node-3 downloaded before its window opened');
    assert.ok(granted('node-3') >= opening, `node-3 granted ${granted('node-3') - opening} ms after its window opened`);

    const status = await cli(fleet, ['rollout', 'status', 'fw-2.0.0']);
    assert.is(status.status, 0, status.stderr);
    assert.match(status.stdout, 'completed');
    assert.match(status.stdout, 'waves: 1 done (1/1) · 2 done (2/2)');
    assert.match(status.stdout, 'tag late: window daily');

    // The operator's moves on a rollout whose only target never shows up.
    await fleet.publish({ image, version: '2.0.1', targets: ['node-9'] });
    const list = await cli(fleet, ['rollout', 'list']);
    assert.match(list.stdout, /fw-2\.0\.0\s+2\.0\.0\s+completed/);
    assert.match(list.stdout, /fw-2\.0\.1\s+2\.0\.1\s+active/);
    assert.match((await cli(fleet, ['rollout', 'pause', 'fw-2.0.1'])).stdout, 'paused (operator: paused)');
    assert.match((await cli(fleet, ['rollout', 'resume', 'fw-2.0.1'])).stdout, 'active (operator: active)');
    assert.match((await cli(fleet, ['rollout', 'cancel', 'fw-2.0.1'])).stdout, 'cancelled (operator: cancelled)');
    const refused = await cli(fleet, ['rollout', 'pause', 'fw-2.0.1']);
    assert.is(refused.status, 1, 'a cancelled rollout is not paused');

    assert.equal(fleet.unexpectedLines([/request denied/]), []);
  });
});

test('a per-wave failure threshold aborts before the next wave installs; a pause holds downloaded agents until the resume', async () => {
  const [bad, second, third] = ['node-bad', 'node-2', 'node-3'];
  await withFleet({ name: 'waves-abort', nodeIds: [bad, second, third] }, async (fleet) => {
    const factory = await fleet.image('factory.bin', 64 * 1024);
    for (const id of [bad, second, third]) await fleet.seedSlot(id, factory, '1.0.0');
    await fleet.startGateway();
    await fleet.startAgent(bad, { config: { health_check_command: 'exit 1' } });
    for (const id of [second, third]) await fleet.startAgent(id);
    await fleet.waitForNodes([bad, second, third], 30_000, '1.0.0');

    const image = await fleet.image('fw-2.0.0.bin', 64 * 1024);
    await fleet.publish({
      image, version: '2.0.0', targets: [bad, second, third],
      policy: { max_parallel_installs: 3, failure_threshold: 3, waves: ['1', '100%'], wave_failure_threshold: 1 },
    });
    const aborted = await fleet.watch('fw-2.0.0', 60_000);
    assert.is(aborted.rollout, 'aborted');
    assert.is(aborted.nodes[bad]!.state, 'rolled_back');
    for (const id of [second, third]) assert.not.ok(['installing', 'installed'].includes(aborted.nodes[id]!.state), `${id}: ${aborted.nodes[id]!.state}`);
    await fleet.waitForNodes([bad, second, third], 10_000, '1.0.0');

    // The next update: paused just after it is published; the agents download, ask, and
    // wait. The CLI's pause takes a moment to start; the second wave's bake keeps the third
    // node from installing before it (a 64 KiB image installs in under a second).
    const next = await fleet.image('fw-2.0.1.bin', 64 * 1024);
    await fleet.publish({ image: next, version: '2.0.1', targets: [second, third], policy: { max_parallel_installs: 2, waves: ['1', '100%'], bake_s: 15 } });
    const paused = await cli(fleet, ['rollout', 'pause', 'fw-2.0.1']);
    assert.is(paused.status, 0, paused.stderr);
    const heldAt = Date.now();
    await fleet.until('an agent told the rollout is paused', () => (fleet.agent(third).entries()
      .some((entry) => entry.update_id === 'fw-2.0.1' && entry.reason === 'rollout paused') ? true : undefined), 60_000);
    const held = await fleet.status('fw-2.0.1');
    assert.is(held.nodes[third]!.state, 'downloaded', 'downloaded, not installing, while paused');
    assert.is((await cli(fleet, ['rollout', 'resume', 'fw-2.0.1'])).status, 0);
    const done = await fleet.watch('fw-2.0.1', 90_000);
    assert.is(done.rollout, 'completed');
    const grantedThird = timeOf(fleet.gateway!.entries().find((entry) => entry.msg === 'install granted' && entry.node === third && entry.update === 'fw-2.0.1'));
    assert.ok(grantedThird > heldAt, 'granted after the pause, once resumed');
    assert.equal(fleet.unexpectedLines([/^new version failed: rolling back$/]), []);
  });
});

test('a health-gated wave: memory far over its baseline after the install pauses the rollout with the evidence; resume lets the next wave go', async () => {
  const [first, second] = ['node-1', 'node-2'];
  await withFleet({ name: 'health-gate', nodeIds: [first, second] }, async (fleet) => {
    await fleet.startGateway();
    for (const id of [first, second]) await fleet.startAgent(id, { config: { metrics_interval_s: 1 } });
    await fleet.waitForNodes([first, second], 30_000);
    const operator = await fleet.operator();
    const samplesOf = async (id: string) => (await operator.json<MetricsView>(Method.GET, `/nodes/${id}/metrics`)).samples;
    await fleet.until(`${first}'s baseline samples`, async () => ((await samplesOf(first)).length >= 3 ? true : undefined), 30_000);

    const image = await fleet.image('fw-2.0.0.bin', 64 * 1024);
    await fleet.publish({
      image, version: '2.0.0', targets: [first, second],
      // Memory, not CPU: the CPU share is the whole machine's, as high as 70 % at a baseline
      // taken while other tests run, and no sample can then exceed it by the margin.
      policy: { max_parallel_installs: 2, waves: ['1', '100%'], bake_s: 2, health_gate: { memory_margin_percent: 20, baseline_s: 120 } },
    });
    await fleet.waitForStatus('fw-2.0.0', `${first} installed`, (view) => view.nodes[first]!.state === 'installed', 60_000);
    // The node's own reports of its memory at 99 % (its agent's samples go on beside them),
    // 5 s apart: the gateway's history keeps one sample per 5 s bucket (metrics-tiers.ts).
    const node = await fleet.asNode(first);
    try {
      const latest = (await samplesOf(first)).at(-1)!;
      for (let index = 1; index <= 20; index++) {
        const sample = { ...latest, memory_percent: 99, at: new Date(Date.now() + index * 5000).toISOString() };
        await node.send(Method.PUT, `/nodes/${first}/metrics`, sample);
      }
    } finally {
      await node.close();
    }
    const paused = await fleet.waitForStatus('fw-2.0.0', 'paused by the health gate', (view: StatusView) => view.health_breach !== undefined, 90_000);
    assert.is(paused.rollout, 'paused');
    const evidence = paused.health_breach!;
    assert.equal([evidence.wave, evidence.node, evidence.figure, evidence.action], [1, first, 'memory_percent', 'pause']);
    assert.ok(evidence.observed > evidence.limit && evidence.limit === Math.round((evidence.baseline + 20) * 10) / 10, JSON.stringify(evidence));
    assert.not.ok(['installing', 'installed'].includes(paused.nodes[second]!.state), 'the next wave waits');
    const status = await cli(fleet, ['rollout', 'status', 'fw-2.0.0']);
    assert.match(status.stdout, `health gate paused the rollout after wave 1: ${first} memory_percent`);

    assert.is((await cli(fleet, ['rollout', 'resume', 'fw-2.0.0'])).status, 0);
    const done = await fleet.watch('fw-2.0.0', 90_000);
    assert.is(done.rollout, 'completed');
    assert.is(done.health_breach, undefined);
    assert.equal(fleet.unexpectedLines([/^health gate: rollout paused$/]), []);
  });
});

test.run();
