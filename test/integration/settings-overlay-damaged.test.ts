// A damaged file of settings changed at run time (the gateway's config-overlay.json, the
// agent's remote-settings.json: a torn write, a hand edit gone wrong): the real daemon
// stops at start with exit status 2 and one line naming the file and what to do, and the
// file is left as it was (nothing is lost or overwritten).

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeys } from '../../src/operator/keys.js';
import { runCli } from '../helpers/cli.js';

const DAMAGED = '{"log_level": "debug", "alert_cpu_perc';

test('the gateway and the agent with a damaged settings overlay: exit 2, one line naming it, the file untouched', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-overlay-'));
  try {
    const keys = join(dir, 'keys');
    await generateKeys(keys, ['node-1'], 'admin', false);

    const gatewayData = join(dir, 'gateway');
    await mkdir(gatewayData);
    const gatewayOverlay = join(gatewayData, 'config-overlay.json');
    await writeFile(gatewayOverlay, DAMAGED);
    const gateway = await runCli(['server', '--data-dir', gatewayData, '--port', 'off', '--dtls-host', '127.0.0.1', '--dtls-port', '0', '--psk-file', join(keys, 'gateway-psk.json')]);
    assert.is(gateway.status, 2, `${gateway.stdout}${gateway.stderr}`);
    assert.match(gateway.stderr, `${gatewayOverlay} (settings changed at run time) must hold a JSON object; delete it to start without them`);
    assert.is(await readFile(gatewayOverlay, 'utf8'), DAMAGED);

    const agentData = join(dir, 'node-1');
    await mkdir(agentData);
    const agentOverlay = join(agentData, 'remote-settings.json');
    await writeFile(agentOverlay, DAMAGED);
    const config = join(dir, 'node-1.json');
    await writeFile(config, JSON.stringify({
      node_id: 'node-1', gateway: 'coaps://127.0.0.1:9', data_dir: agentData, publisher_key: join(keys, 'publisher.pub'),
      psk_identity: 'node:node-1', psk_key_file: join(keys, 'node-node-1.json'),
    }));
    const agent = await runCli(['agent', '--config', config]);
    assert.is(agent.status, 2, `${agent.stdout}${agent.stderr}`);
    assert.match(agent.stderr, `${agentOverlay} (settings changed at run time) must hold a JSON object; delete it to start without them`);
    assert.is(await readFile(agentOverlay, 'utf8'), DAMAGED);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
