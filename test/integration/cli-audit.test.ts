// `coap-fleet audit` as a real process against a real gateway over DTLS: the operator reads
// the entry of a node's denied request, as JSON and as a table; a node's credentials are
// refused (4.03, exit 1).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuditView } from '../../src/fleet/views.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { runCli } from '../helpers/cli.js';
import { request, until, withFleet } from '../helpers/fleet.js';

test('coap-fleet audit --json shows a denied request\'s entry; a node may not read the log', async () => {
  await withFleet({ name: 'cli-audit', nodeIds: ['node-1'] }, async (fleet) => {
    await fleet.startGateway();
    const node = await fleet.asNode('node-1');
    try {
      assert.is((await request(node, 'GET', '/nodes')).code, ResponseCode.Forbidden);
    } finally {
      await node.close();
    }
    const operator = ['--gateway', fleet.gatewayUri, '--credentials', fleet.operatorCredentials];
    // The denial is audited just after its answer: read until it is there (bounded).
    const entry = await until('the denial in coap-fleet audit --json', async () => {
      const result = await runCli(['audit', '--json', '--action', 'access.denied', ...operator]);
      assert.is(result.status, 0, result.stderr);
      const { entries } = JSON.parse(result.stdout) as { entries: AuditView[] };
      return entries.find((candidate) => candidate.who === 'node:node-1' && candidate.target === '/nodes');
    }, { timeoutMs: 15_000 });
    assert.match(entry.detail ?? '', 'GET 4.03');

    const table = await runCli(['audit', '--who', 'node:node-1', '--limit', '5', ...operator]);
    assert.is(table.status, 0, table.stderr);
    assert.match(table.stdout, /^AT +WHO +ACTION +TARGET +DETAIL\n/);
    assert.match(table.stdout, /node:node-1 +access\.denied +\/nodes +GET 4\.03/);

    const refused = await runCli(['audit', '--gateway', fleet.gatewayUri, '--credentials', fleet.nodeCredentials('node-1')]);
    assert.is(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, '4.03');
    const badSince = await runCli(['audit', '--since', 'yesterday', ...operator]);
    assert.is(badSince.status, 1);
    assert.match(badSince.stderr, 'since: an RFC 3339 date-time');
  });
});

test.run();
