// How the CLI shows the adaptive transfer's figures (issue 12): `node ID` (show) with the
// node's link quality or a row saying there is none yet, `nodes` with RTT and loss
// columns, and a rollout's line of a downloading node with its transfer figures.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeTable } from '../../../src/cli/node-tables.js';
import { nodesTable } from '../../../src/cli/nodes-command.js';
import { nodeLine } from '../../../src/cli/rollout-command.js';
import type { LinkQuality } from '../../../src/fleet/link-quality.js';
import type { NodeView } from '../../../src/fleet/views.js';

const link: LinkQuality = { block_size: 256, window: 6, rtt_ms: 84.25, loss: 0.125, measured_at: '2026-12-06T23:00:00.000Z', gateway_rtt_ms: 70 };
const node: NodeView = {
  node_id: 'n1', version: '2.0.0', hardware: 'cortex-a55', agent_port: 0, registered_at: '2026-12-06T22:00:00.000Z',
  last_seen: '2026-12-06T23:00:01.000Z', online: true, health: null, link,
};

test('node ID: the link\'s figures as rows, or one row saying there is none yet', () => {
  const shown = nodeTable(node);
  for (const row of ['BLOCK SIZE   256 bytes', 'WINDOW       6 blocks', 'RTT          84.3 ms', 'LOSS         12.5 %', 'GATEWAY RTT  70.0 ms', 'MEASURED     2026-12-06T23:00:00.000Z']) {
    assert.ok(shown.includes(`${row}\n`), `${row} in\n${shown}`);
  }
  assert.match(nodeTable({ ...node, link: null }), /^LINK +no transfer report yet$/m);
  assert.match(nodeTable({ ...node, link: { ...link, rtt_ms: null, gateway_rtt_ms: null } }), /^RTT +-$/m);
});

test('nodes: RTT (the agent\'s, else the gateway\'s) and loss columns; dashes without a link', () => {
  const lines = nodesTable([node, { ...node, node_id: 'n2', link: { ...link, rtt_ms: null } }, { ...node, node_id: 'n3', link: null }]).trimEnd().split('\n');
  assert.match(lines[0]!, /LAST SEEN +RTT +LOSS$/);
  assert.match(lines[1]!, /84\.3 ms +12\.5 %$/);
  assert.match(lines[2]!, /70\.0 ms +12\.5 %$/);
  assert.match(lines[3]!, / - +-$/);
});

test('rollout watch: a downloading node\'s line carries its transfer figures, other states none', () => {
  const transfer = { block_size: 512, window: 10, rtt_ms: null, loss: 0 };
  const status = { state: 'downloading' as const, progress: 0.5, error: null, updated_at: '2026-12-06T23:00:00.000Z', transfer };
  assert.ok(nodeLine('n1', status, 4).endsWith('downloading  (512 B x 10, RTT -, loss 0.0 %)'), nodeLine('n1', status, 4));
  assert.ok(nodeLine('n1', { ...status, state: 'installed' }, 4).endsWith('installed'));
  const { transfer: _, ...older } = status;
  assert.ok(nodeLine('n1', older, 4).endsWith('downloading'));
});

test.run();
