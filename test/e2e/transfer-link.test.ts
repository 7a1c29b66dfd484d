// Adaptive transfer end to end (issue 12): a real gateway and two real agents over DTLS on
// loopback, one with `block_transfer: qblock2` (the default: a tuner per download) and one
// with `block2` (lock-step, no tuner). The first one's status entry shows its transfer
// figures and its node view its link quality (with the gateway's own RTT to it), as do
// `coap-fleet node ID` and `coap-fleet nodes`; the second one reports none, as an agent
// of an earlier release would. The figures' values depend on the link, so only their
// shape and bounds are asserted.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TransferReport } from '../../src/fleet/link-quality.js';
import { runCli } from '../helpers/cli.js';
import { withFleet } from '../helpers/fleet.js';

const IMAGE_SIZE = 192 * 1024;
const TUNED = 'node-tuned';
const LOCKSTEP = 'node-lockstep';

function assertTransfer(transfer: TransferReport | undefined, what: string): asserts transfer is TransferReport {
  assert.ok(transfer !== undefined, `${what}: transfer figures`);
  assert.ok([64, 128, 256, 512, 1024].includes(transfer.block_size), `${what}: block_size ${transfer.block_size}`);
  assert.ok(Number.isInteger(transfer.window) && transfer.window >= 1 && transfer.window <= 64, `${what}: window ${transfer.window}`);
  assert.ok(transfer.rtt_ms === null || (transfer.rtt_ms >= 0 && transfer.rtt_ms < 60_000), `${what}: rtt_ms ${transfer.rtt_ms}`);
  assert.ok(transfer.loss >= 0 && transfer.loss <= 1, `${what}: loss ${transfer.loss}`);
}

test('a tuned download reports its figures on the status entry and becomes the node\'s link; a lock-step one reports none', async () => {
  await withFleet({ name: 'transfer-link', nodeIds: [TUNED, LOCKSTEP] }, async (fleet) => {
    await fleet.startGateway();
    await fleet.startAgent(TUNED);
    await fleet.startAgent(LOCKSTEP, { config: { block_transfer: 'block2' } });
    await fleet.waitForNodes([TUNED, LOCKSTEP], 30_000);

    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);
    await fleet.publish({ image, version: '2.0.0', targets: [TUNED, LOCKSTEP], policy: { max_parallel_installs: 2, canary: 0 } });
    const final = await fleet.watch('fw-2.0.0', 90_000);
    assert.is(final.rollout, 'completed');
    assert.is(final.nodes[TUNED]!.state, 'installed');
    assert.is(final.nodes[LOCKSTEP]!.state, 'installed');
    // Kept on the entry after the download, through installing and installed.
    const transfer = final.nodes[TUNED]!.transfer;
    assertTransfer(transfer, 'status entry');
    assert.is(final.nodes[LOCKSTEP]!.transfer, undefined, 'block2: no tuner, no figures');

    const nodes = await fleet.nodes();
    const tuned = nodes.find((node) => node.node_id === TUNED)!;
    assert.ok(tuned.link !== null, 'the node view has a link');
    const { measured_at: measuredAt, gateway_rtt_ms: gatewayRtt, ...figures } = tuned.link;
    // The `downloaded` report is the last to carry figures: its are the link's.
    assert.equal(figures, transfer);
    assert.ok(!Number.isNaN(Date.parse(measuredAt)) && measuredAt <= final.nodes[TUNED]!.updated_at, measuredAt);
    // The gateway observes the agent's /health over the node's DTLS session: CONs it has timed.
    assert.ok(typeof gatewayRtt === 'number' && gatewayRtt >= 0 && gatewayRtt < 60_000, `gateway_rtt_ms ${gatewayRtt}`);
    assert.is(nodes.find((node) => node.node_id === LOCKSTEP)!.link, null);

    const gatewayFlags = ['--gateway', fleet.gatewayUri, '--credentials', fleet.operatorCredentials];
    const shown = await runCli(['node', TUNED, ...gatewayFlags]);
    assert.is(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`BLOCK SIZE\\s+${transfer.block_size} bytes`));
    assert.match(shown.stdout, new RegExp(`WINDOW\\s+${transfer.window} blocks`));
    assert.match(shown.stdout, new RegExp(`GATEWAY RTT\\s+${gatewayRtt.toFixed(1)} ms`));
    const lockstep = await runCli(['node', LOCKSTEP, 'show', ...gatewayFlags]);
    assert.match(lockstep.stdout, /LINK\s+no transfer report yet/);
    const listed = await runCli(['nodes', ...gatewayFlags]);
    assert.is(listed.status, 0, listed.stderr);
    const row = listed.stdout.split('\n').find((line) => line.startsWith(TUNED))!;
    assert.match(row, new RegExp(`${(transfer.loss * 100).toFixed(1)} %$`));
    assert.equal(fleet.unexpectedLines(), []);
  });
});

test.run();
