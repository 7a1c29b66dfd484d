// What code the daemons load (issue 14: resident memory on a small device): the gateway and
// an agent as real processes on PSKs, every module they resolve recorded by a preload
// (test/fixtures/record-imports). Each loads its own command only (src/cli/main.ts imports
// a command's module when it runs), and neither loads the X.509 issuing stack, which only
// enrollment and certificate renewal need.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, withFleet } from '../helpers/fleet.js';

const PRELOAD = join(ROOT, 'test', 'fixtures', 'record-imports', 'preload.mjs');

/** The environment that has a daemon record its imports into `file`. */
const recording = (file: string): Record<string, string> => ({
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim(), RECORD_IMPORTS_FILE: file,
});

/** The recorded module URLs, relative to the repository (packages by their name). */
function imports(file: string): Set<string> {
  return new Set(readFileSync(file, 'utf8').split('\n').filter((line) => line !== '')
    .map((url) => url.replace(`file://${ROOT}`, '').replace(/^node_modules\/((?:@[^/]+\/)?[^/]+)\/.*$/, 'pkg:$1')));
}

/** Code a PSK daemon at rest has no use for. */
const CERTIFICATE_STACK = ['pkg:@peculiar/x509', 'pkg:reflect-metadata', 'dist/src/fleet/certificates.js'];

test('an idle agent and gateway on PSKs load their own command only, without the X.509 stack', async () => {
  await withFleet({ name: 'imports', nodeIds: ['node-1'] }, async (fleet) => {
    const gatewayFile = join(fleet.dir, 'gateway.imports');
    const agentFile = join(fleet.dir, 'agent.imports');
    await fleet.startGateway({ env: recording(gatewayFile) });
    await fleet.startAgent('node-1', { env: recording(agentFile) });
    await fleet.waitForNodes(['node-1'], 30_000);
    const agent = imports(agentFile);
    const gateway = imports(gatewayFile);
    // The recorder works: each daemon's own code and its store are there.
    for (const module of ['dist/src/cli/agent-command.js', 'dist/src/agent/agent.js', 'pkg:lmdb']) assert.ok(agent.has(module), `the agent loaded ${module}`);
    for (const module of ['dist/src/cli/server-command.js', 'dist/src/server/gateway.js', 'pkg:lmdb']) assert.ok(gateway.has(module), `the gateway loaded ${module}`);
    // main.ts reads the operator's GatewayError for exit statuses: that module, no other.
    const loaded = (modules: Set<string>, prefixes: readonly string[]): string[] => [...modules]
      .filter((module) => module !== 'dist/src/operator/errors.js' && prefixes.some((prefix) => module.startsWith(prefix)));
    assert.equal(loaded(agent, [...CERTIFICATE_STACK, 'dist/src/operator/', 'dist/src/server/', 'dist/src/cli/demo-command.js', 'dist/src/cli/server-command.js']), []);
    assert.equal(loaded(gateway, [...CERTIFICATE_STACK, 'dist/src/server/enrollment.js', 'dist/src/operator/', 'dist/src/agent/', 'dist/src/cli/agent-command.js']), []);
    assert.equal(fleet.unexpectedLines(), []);
  });
});

test.run();
