import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('the demo (the README\'s first command) rolls a signed image out to every node and exits 0', async () => {
  const { stdout } = await run(process.execPath, ['bin/coap-fleet.js', 'demo', '--nodes', '3', '--size-mib', '1'], { timeout: 240_000 });
  assert.match(stdout, /3 agents registered/);
  assert.match(stdout, /rollout completed in [\d.]+ s: 3\/3 installed, 3\/3 report version 2\.0\.0/);
  for (const node of ['node-1', 'node-2', 'node-3']) assert.match(stdout, new RegExp(`${node}\\s+2\\.0\\.0\\s+yes`));
});

test('demo --certs: a fleet CA, nodes that enroll with bootstrap credentials, the same rollout', async () => {
  const { stdout } = await run(process.execPath, ['bin/coap-fleet.js', 'demo', '--certs', '--nodes', '2', '--size-mib', '0.25'], { timeout: 240_000 });
  assert.match(stdout, /a fleet CA \(root and intermediate\).*2 nodes enroll/);
  assert.match(stdout, /DTLS 1\.2, certificates/);
  assert.match(stdout, /rollout completed in [\d.]+ s: 2\/2 installed, 2\/2 report version 2\.0\.0/);
});

test.run();
