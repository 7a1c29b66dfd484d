// `coap-fleet alerts --watch --json` as a real process against a real gateway over DTLS:
// one JSON document per line, the first the current list, then one at each change (a
// node reports its update failed: an update_failed alert), and exit 0 on SIGINT.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AlertView } from '../../src/fleet/views.js';
import type { CoapResponse } from '../../src/protocol/client.js';
import { codeClass } from '../../src/protocol/codes.js';
import { runCli } from '../helpers/cli.js';
import { request, withFleet, writeRandomImage } from '../helpers/fleet.js';

test('alerts --watch --json prints the list, then each change, one JSON document per line', async () => {
  await withFleet({ name: 'cli-alerts', nodeIds: ['node-1'] }, async (fleet) => {
    await fleet.startGateway();
    const node = await fleet.asNode('node-1');
    try {
      await request(node, 'POST', '/nodes', { node_id: 'node-1', version: '1.0.0', hardware: 'test', agent_port: 0 });
      await fleet.publish({ image: await writeRandomImage(join(fleet.dir, 'image.bin'), 1024), version: '2.0.0', targets: ['node-1'] });
      let reported: Promise<unknown> | undefined;
      const result = await runCli(['alerts', '--watch', '--json', '--gateway', fleet.gatewayUri, '--credentials', fleet.operatorCredentials], {
        killAfterMs: 60_000,
        onStdout: (stdout, child) => {
          const lines = stdout.split('\n').filter((line) => line !== '');
          // The watch shows its first list once it has registered: now make a change.
          if (lines.length === 1 && reported === undefined) {
            reported = request(node, 'PUT', '/updates/fw-2.0.0/status', { state: 'failed', progress: 0, error: 'disk full' });
          }
          if (lines.some((line) => line.includes('update_failed'))) child.kill('SIGINT');
        },
      });
      assert.is(result.status, 0, result.stderr);
      assert.is(codeClass((await reported as CoapResponse).code), 2, 'the node\'s report was taken');
      const documents = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { alerts: AlertView[] });
      assert.equal(documents[0], { alerts: [] });
      assert.equal(documents.at(-1)!.alerts.map((alert) => [alert.node_id, alert.kind]), [['node-1', 'update_failed']]);
    } finally {
      await node.close();
    }
  });
});

test.run();
