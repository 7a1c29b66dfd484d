// The transfer figures a node reports with its download's status (issue 12, adaptive
// transfer) over real UDP with simulated DTLS identities: kept on its status entry (and
// after the download), checked field by field (4.00), optional for agents that send none;
// the node's link quality from the latest of them in GET /nodes/{id} and the list, kept
// through a new registration and a gateway restart.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TransferReport } from '../../../src/fleet/link-quality.js';
import type { NodeView, StatusView } from '../../../src/fleet/views.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { bodyOf, manifestFor, startTestGateway, unexpectedLogs } from './gateway-harness.js';

const registration = { node_id: 'n1', version: '1.0.0', hardware: 'cortex-a55', agent_port: 5683 };
const transfer: TransferReport = { block_size: 512, window: 12, rtt_ms: 41.5, loss: 0.0625 };

test('a node\'s transfer figures land on its status entry and, with when they came, on its link; a restart keeps them', async () => {
  let gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    assert.is((await gw.request(n1, 'POST', '/nodes', registration)).code, ResponseCode.Created);
    assert.is(bodyOf<NodeView>(await gw.request(operator, 'GET', '/nodes/n1')).link, null, 'no link before a transfer report');
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']));

    const before = Date.now();
    assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.3, error: null, transfer })).code, ResponseCode.Changed);
    const status = bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status'));
    assert.equal(status.nodes.n1!.transfer, transfer);
    const link = bodyOf<NodeView>(await gw.request(operator, 'GET', '/nodes/n1')).link!;
    const { measured_at: measuredAt, ...figures } = link;
    // Plain CoAP here: no DTLS session, so no RTT of the gateway's own.
    assert.equal(figures, { ...transfer, gateway_rtt_ms: null });
    assert.ok(Date.parse(measuredAt) >= before - 1000 && Date.parse(measuredAt) <= Date.now() + 1000, measuredAt);

    // An agent of an earlier release sends none: taken; the entry keeps the last figures.
    assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloaded', progress: 1, error: null })).code, ResponseCode.Changed);
    const later = bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status')).nodes.n1!;
    assert.is(later.state, 'downloaded');
    assert.equal(later.transfer, transfer);

    assert.is((await gw.request(n1, 'POST', '/nodes', { ...registration, version: '1.0.1' })).code, ResponseCode.Changed);
    const listed = bodyOf<{ nodes: NodeView[] }>(await gw.request(operator, 'GET', '/nodes')).nodes;
    assert.equal(listed.find((node) => node.node_id === 'n1')?.link, link, 'a new registration keeps the link');

    gw = await gw.restart();
    const again = await gw.client('operator:alice');
    assert.equal(bodyOf<NodeView>(await gw.request(again, 'GET', '/nodes/n1')).link, link, 'persisted with the node');
    assert.equal(bodyOf<StatusView>(await gw.request(again, 'GET', '/updates/u1/status')).nodes.n1!.transfer, transfer);
    assert.equal(unexpectedLogs(gw.logs), []);
  } finally {
    await gw.close();
  }
});

test('a bad transfer is a 4.00 naming each bad field; nothing of the report is kept', async () => {
  const gw = await startTestGateway();
  try {
    const operator = await gw.client('operator:alice');
    const n1 = await gw.client('node:n1');
    await gw.request(n1, 'POST', '/nodes', registration);
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']));
    const bad = await gw.request(n1, 'PUT', '/updates/u1/status', {
      state: 'downloading', progress: 0.1, error: null, transfer: { block_size: 1000, window: 0, loss: 2 },
    });
    assert.is(bad.code, ResponseCode.BadRequest);
    for (const field of ['transfer.block_size', 'transfer.window', 'transfer.rtt_ms', 'transfer.loss']) assert.match(bad.payload.toString(), field);
    const notObject = await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.1, transfer: [1] });
    assert.is(notObject.code, ResponseCode.BadRequest);
    assert.is(bodyOf<StatusView>(await gw.request(operator, 'GET', '/updates/u1/status')).nodes.n1!.state, 'pending');
    assert.is(bodyOf<NodeView>(await gw.request(operator, 'GET', '/nodes/n1')).link, null);
  } finally {
    await gw.close();
  }
});

test.run();

