// The operator's alerts against a real gateway (in process, real UDP and LMDB) as the
// local operator over plain CoAP: the list, the list with cleared ones, an acknowledgement,
// and a watch that sees a new alert and ends when told to stop; the CLI's table.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alertsTable } from '../../../src/cli/alerts-command.js';
import type { AlertView } from '../../../src/fleet/views.js';
import { acknowledgeAlert, listAlerts, watchAlerts } from '../../../src/operator/alerts.js';
import { openGateway } from '../../../src/operator/gateway-client.js';
import { eventually, manifestFor, startTestGateway } from '../server/gateway-harness.js';

test('list, acknowledge and watch the alerts of a gateway', async () => {
  const gw = await startTestGateway();
  const gateway = await openGateway({ gateway: `coap://127.0.0.1:${gw.gateway.addresses().coap!.port}` });
  try {
    const n1 = await gw.client('node:n1');
    const operator = await gw.client('operator:alice');
    await gw.request(n1, 'POST', '/nodes', { node_id: 'n1', version: '1.0.0', hardware: 'x', agent_port: 0 });
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']));
    assert.equal(await listAlerts(gateway), []);

    const seen: AlertView[][] = [];
    let stop: () => void = () => {};
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    const watching = watchAlerts(gateway, 'active', (alerts) => {
      seen.push(alerts);
      if (alerts.length > 0) stop();
    }, stopped);
    // The watch has registered once its first list is shown.
    await eventually(() => seen.length > 0, 3000);
    await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'failed', progress: 0, error: 'disk full' });
    await watching;
    assert.equal(seen.at(-1)!.map((alert) => alert.kind), ['update_failed']);

    const [alert] = await listAlerts(gateway);
    assert.match(alertsTable([alert!]), /update_failed\s+critical/);
    const acked = await acknowledgeAlert(gateway, alert!.id);
    assert.is(acked.acknowledged_by?.startsWith('local@'), true);
    assert.equal(await listAlerts(gateway), []);
    assert.equal((await listAlerts(gateway, 'all')).map((kept) => kept.id), [alert!.id]);
    assert.is(alertsTable([]), 'no alerts\n');
  } finally {
    await gateway.close();
    await gw.close();
  }
});

test.run();
