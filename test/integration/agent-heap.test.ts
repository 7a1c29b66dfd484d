// The agent's V8 settings from bin/coap-fleet.js (issue 14): a real agent process, started
// as systemd starts it, keeps its young generation at V8's initial size through its start
// and registration (module loading and the DTLS handshake allocate enough to grow it to
// 8 MiB without --semi-space-growth-factor=1). Read through a preload that writes the heap
// spaces on SIGUSR2 (test/fixtures/heap-spaces).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, withFleet } from '../helpers/fleet.js';

const PRELOAD = join(ROOT, 'test', 'fixtures', 'heap-spaces', 'preload.mjs');
const MiB = 1024 * 1024;

interface HeapSpace {
  readonly space_name: string;
  readonly space_size: number;
}

test('an agent keeps a young generation of at most 2 MiB through its start and registration', async () => {
  await withFleet({ name: 'agent-heap', nodeIds: ['node-1'] }, async (fleet) => {
    const file = join(fleet.dir, 'agent.heap.json');
    await fleet.startGateway();
    const agent = await fleet.startAgent('node-1', {
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim(), HEAP_SPACES_FILE: file },
    });
    await fleet.waitForNodes(['node-1'], 30_000);
    agent.child.kill('SIGUSR2');
    const spaces = await fleet.until('the agent\'s heap spaces', () => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as HeapSpace[] : undefined), 10_000);
    const young = spaces.find((space) => space.space_name === 'new_space');
    assert.ok(young !== undefined, 'a new_space in the statistics');
    assert.ok(young.space_size <= 2 * MiB, `new space ${(young.space_size / MiB).toFixed(1)} MiB`);
    assert.equal(fleet.unexpectedLines(), []);
  });
});

test.run();
