// Status reports against a gateway that applies the real acceptance rule (update-state.ts
// acceptsReport, answered 4.09 otherwise, as src/server does), over real UDP on loopback
// with a real LMDB: a late report of an earlier state is no conflict worth a warning; a
// real conflict still is.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayLink } from '../../../src/agent/gateway-link.js';
import { StatusReporter } from '../../../src/agent/status-reporter.js';
import { AgentStore, type NodeUpdateRecord } from '../../../src/agent/store.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import type { StatusReport } from '../../../src/fleet/schemas.js';
import { acceptsReport, type NodeUpdateState } from '../../../src/fleet/update-state.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { systemClock } from '../../../src/protocol/runtime.js';
import { unexpectedWarnings } from './agent-harness.js';
import { tempDir } from './fake-gateway.js';

/** A gateway's status resource: the state it has per update, moved as src/server does. */
async function statusGateway(states: Map<string, NodeUpdateState>): Promise<Endpoint> {
  const endpoint = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  endpoint.router.add('/updates/{id}/status', {
    handlers: {
      PUT: (request) => {
        const report = JSON.parse(request.payload.toString('utf8')) as StatusReport;
        const current = states.get(request.params.id!) ?? 'pending';
        if (!acceptsReport(current, report.state)) {
          return { code: ResponseCode.Conflict, payload: `cannot move from ${current} to ${report.state}` };
        }
        states.set(request.params.id!, report.state);
        return { code: ResponseCode.Changed };
      },
    },
  });
  return endpoint;
}

const record = (updateId: string, state: NodeUpdateState): NodeUpdateRecord => ({
  updateId, manifest: null, state, progress: 1, error: null, download: null, install: null, updatedAt: new Date().toISOString(),
});

test('a `downloaded` report arriving after the install was granted (gateway at installing) is done without a warning; a real conflict warns', async () => {
  const temp = await tempDir('coap-fleet-status-');
  const states = new Map<string, NodeUpdateState>();
  const gateway = await statusGateway(states);
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const store = AgentStore.open(join(temp.path, 'state'));
  const logs: Record<string, unknown>[] = [];
  const log = createDaemonLogger({
    level: 'debug', pretty: false, stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } },
  });
  const reporter = new StatusReporter(
    new GatewayLink(client, `coap://127.0.0.1:${gateway.address().port}`, 'n1', () => {}), store, log, systemClock,
  );
  try {
    // The install was granted: the gateway moved u1 to installing, the agent too; the
    // report of `downloaded` comes late (lost once and sent again, say).
    states.set('u1', 'installing');
    await store.saveUpdate(record('u1', 'installing'));
    reporter.report(record('u1', 'downloaded'));
    await reporter.idle();
    assert.equal(unexpectedWarnings(logs, []), [], 'no warning for a late report');
    assert.ok(logs.some((entry) => entry.msg === 'late status report refused: the gateway has a later state'));
    reporter.report(record('u1', 'installed'));
    await reporter.idle();
    assert.is(states.get('u1'), 'installed');

    // A real conflict: the gateway has u2 failed, the agent says installed.
    states.set('u2', 'failed');
    await store.saveUpdate(record('u2', 'installed'));
    reporter.report(record('u2', 'installed'));
    await reporter.idle();
    const warnings = logs.filter((entry) => entry.level === 'warn');
    assert.equal(warnings.map((entry) => [entry.msg, entry.update_id, entry.code]), [['status report refused', 'u2', '4.09 Conflict']]);
  } finally {
    await reporter.stop();
    await client.close();
    await gateway.close();
    await store.close();
    await temp.remove();
  }
});

test.run();
