// The agent's health PUT is its heartbeat only while nobody observes its /health (DESIGN §5):
// with the gateway observing, each sample goes out as a notification and no PUT is sent; the
// observation cancelled, the PUTs come back. Against the fake gateway over plain CoAP.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeGateway, makePublisher, tempDir } from './fake-gateway.js';
import { startAgent } from './agent-harness.js';

test('no health PUT while /health is observed; the PUTs resume when the observation ends', async () => {
  const temp = await tempDir('coap-fleet-agent-heartbeat-');
  const gateway = await FakeGateway.start();
  const publisher = await makePublisher(temp.path);
  const { agent } = await startAgent(join(temp.path, 'agent'), gateway, publisher, { health_interval_s: '0.2' });
  try {
    await gateway.waitFor(() => gateway.health.length >= 1, 'a health PUT');
    const { observation } = await gateway.endpoint.observe({ peer: agent.address(), path: '/health' });
    const notifications = observation[Symbol.asyncIterator]();
    // One PUT may have been on its way when the registration arrived.
    const puts = gateway.health.length + 1;
    for (let period = 0; period < 4; period++) assert.is((await notifications.next()).done, false);
    assert.ok(gateway.health.length <= puts, `${gateway.health.length - puts + 1} PUTs during four observed periods`);
    await observation.cancel();
    const after = gateway.health.length;
    await gateway.waitFor(() => gateway.health.length > after, 'the heartbeat PUT back');
  } finally {
    await agent.stop();
    await gateway.close();
    await temp.remove();
  }
});

test.run();
