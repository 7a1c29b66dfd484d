// POST /services/{name} with a signed service.* command, on the agent's command resources
// over a real Endpoint (UDP loopback) and a real LMDB: the action runs once, for the unit
// the path and the envelope both name and the configuration allows, and is answered after
// it finished. The ServiceControl here records the actions instead of running a service
// manager (the real one, service-manager.ts, is tested with real programs in
// service-manager.test.ts and end to end through the gateway).

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandAudit } from '../../../src/agent/command-audit.js';
import { CommandGate } from '../../../src/agent/command-gate.js';
import { serviceCommandHandler, type ServiceControl } from '../../../src/agent/command-resources.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { LmdbNonceLedger } from '../../../src/agent/nonce-ledger-lmdb.js';
import { AgentStore } from '../../../src/agent/store.js';
import { AgentRoute } from '../../../src/fleet/paths.js';
import type { CommandResultView } from '../../../src/fleet/node-views.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { formatCode, Method } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { CommandWorld, diagnostic, NOW } from './command-harness.js';

class UnitsStandIn implements ServiceControl {
  readonly acted: string[] = [];
  failing = false;
  allowed(): readonly string[] {
    return ['web.service', 'worker.service'];
  }

  async act(unit: string, action: 'start' | 'stop' | 'restart'): Promise<void> {
    this.acted.push(`${action} ${unit}`);
    if (this.failing) throw new Error('Job for web.service failed because the control process exited with error code.');
  }
}

test('POST /services/{name}: runs once for an allowed unit named by both; another unit 4.03, a unit not allowed 4.04, a failure 5.00', async () => {
  const world = await CommandWorld.create();
  const store = AgentStore.open(join(world.dir, 'state'));
  const server = await Endpoint.udp({ host: '127.0.0.1' });
  try {
    const config = loadAgentConfig({
      flags: { node_id: 'n1', gateway: 'coap://127.0.0.1:5683', data_dir: world.dataDir, publisher_key: world.publisher.publicKeyPath, operator_keys: world.operatorKeyPath },
    });
    const log = createDaemonLogger({ level: 'silent', pretty: false, stream: { write: () => {} } });
    const audit = new CommandAudit(store, log);
    const gate = new CommandGate({ nodeId: 'n1', keys: config.operatorKeys, now: () => NOW, nonces: new LmdbNonceLedger(store), audit });
    const units = new UnitsStandIn();
    server.router.add(AgentRoute.service, { handlers: { POST: serviceCommandHandler('n1', units, gate) } });
    const post = (name: string, body: unknown) => world.client.request({
      method: Method.POST, uri: `coap://127.0.0.1:${server.address().port}/services/${name}`, payload: JSON.stringify(body),
    });

    const done = await post('web.service', world.sign('service.restart', { name: 'web.service' }));
    assert.is(formatCode(done.code), '2.04', diagnostic(done));
    assert.equal(JSON.parse(done.payload.toString()) as CommandResultView, {
      node_id: 'n1', action: 'service.restart', outcome: 'done', detail: 'restart web.service finished',
    });
    assert.equal(units.acted, ['restart web.service']);

    const other = await post('worker.service', world.sign('service.stop', { name: 'web.service' }));
    assert.is(formatCode(other.code), '4.03');
    assert.is(diagnostic(other), 'wrong-action: the command is for unit "web.service", not worker.service');
    const notService = await post('web.service', world.sign('restart'));
    assert.is(formatCode(notService.code), '4.03');
    assert.match(diagnostic(notService), /^wrong-action: POST \/services\/web\.service takes service\.start, service\.stop or service\.restart, not restart$/);
    const notAllowed = await post('sshd.service', world.sign('service.stop', { name: 'sshd.service' }));
    assert.is(formatCode(notAllowed.code), '4.04');
    assert.is(diagnostic(notAllowed), 'unit-not-allowed: sshd.service is not one of this node\'s allowed_units');
    assert.equal(units.acted, ['restart web.service'], 'none of the refused ones ran');

    units.failing = true;
    const failed = await post('web.service', world.sign('service.start', { name: 'web.service' }));
    assert.is(formatCode(failed.code), '5.00');
    assert.match(diagnostic(failed), /^start web\.service failed: Job for web\.service failed/);
    assert.equal(audit.entries().map((entry) => `${entry.outcome} ${entry.action}`), [
      'accepted service.restart', 'refused service.stop', 'refused restart', 'refused service.stop', 'accepted service.start',
    ]);
  } finally {
    await server.close();
    await store.close();
    await world.close();
  }
});

test.run();
