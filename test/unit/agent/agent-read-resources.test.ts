// The read resources on a running agent, asked the way the gateway asks them: over the
// DTLS session the agent opened (DESIGN §5, LwM2M's pattern), from the gateway's side of
// it. The agent reads the real /proc of this machine and a real log file.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LogsView, MetricsView, ServicesView } from '../../../src/fleet/node-views.js';
import { describeCode, ResponseCode } from '../../../src/protocol/codes.js';
import { parseLinks } from '../../../src/protocol/link-format.js';
import { FakeGateway, makePublisher, tempDir } from './fake-gateway.js';
import { startAgent, unexpectedWarnings, type RunningAgent } from './agent-harness.js';

test('over the agent\'s own DTLS session the gateway reads /metrics, /logs and /services, listed in /.well-known/core', async () => {
  const temp = await tempDir('coap-fleet-agent-read-');
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const gateway = await FakeGateway.start(0, new Map([['node:n1', key]]));
  const logs: Record<string, unknown>[] = [];
  let running: RunningAgent | undefined;
  try {
    const publisher = await makePublisher(temp.path);
    const keyFile = join(temp.path, 'node-n1.json');
    await writeFile(keyFile, JSON.stringify({ identity: 'node:n1', key_hex: key.toString('hex') }));
    const appLog = join(temp.path, 'app.log');
    await writeFile(appLog, 'hello from the app\n');
    running = await startAgent(join(temp.path, 'data'), gateway, publisher, {
      psk_key_file: keyFile, log_source: 'files', log_files: appLog,
    }, logs);
    await gateway.waitFor(() => gateway.registrations.length > 0, 'a registration over DTLS');
    const peer = { address: '127.0.0.1', port: running.agent.address().port };
    const ask = async (path: string, query: string[] = []) => {
      const response = await gateway.endpoint.request({ peer, path, query });
      assert.is(describeCode(response.code), describeCode(ResponseCode.Content), `${path}: ${response.payload.toString('utf8')}`);
      return JSON.parse(response.payload.toString('utf8')) as unknown;
    };
    const metrics = await ask('/metrics') as MetricsView;
    assert.is(metrics.node_id, 'n1');
    assert.is(metrics.interval_s, 30);
    assert.is(metrics.samples.length, 1);
    assert.ok(metrics.samples[0]!.memory_total_bytes > 0 && metrics.samples[0]!.uptime_s > 0, JSON.stringify(metrics.samples[0]));
    const logView = await ask('/logs', ['lines=5']) as LogsView;
    assert.equal(logView.entries.map((entry) => `${entry.unit}: ${entry.message}`), ['app.log: hello from the app']);
    assert.equal(await ask('/services') as ServicesView, { node_id: 'n1', services: [] });
    const notAllowed = await gateway.endpoint.request({ peer, path: '/services/ssh.service' });
    assert.is(describeCode(notAllowed.code), describeCode(ResponseCode.NotFound));

    const core = await gateway.endpoint.request({ peer, path: '/.well-known/core' });
    const links = new Map(parseLinks(core.payload.toString('utf8')).map((link) => [link.target, link.attributes]));
    const attributes = (target: string): string[] => (links.get(target) ?? []).map((attribute) => `${attribute.name}${attribute.value === undefined ? '' : `=${attribute.value}`}`);
    assert.equal(attributes('/metrics'), ['rt=coap-fleet.metrics', 'if=coap-fleet.item', 'ct=50 60', 'obs']);
    assert.equal(attributes('/logs'), ['rt=coap-fleet.logs', 'if=coap-fleet.log', 'ct=50 60', 'obs']);
    assert.equal(attributes('/services'), ['rt=coap-fleet.services', 'if=coap-fleet.collection', 'ct=50 60']);
  } finally {
    await running?.agent.stop();
    await gateway.close();
    await temp.remove();
  }
  assert.equal(unexpectedWarnings(logs, []), []);
});

test.run();
