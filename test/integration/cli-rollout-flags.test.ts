// The rollout plan's flags on the real coap-fleet program: mistakes in --waves, --bake,
// --window, --group-windows, --health-gate, --tag and the rollout verbs are usage errors
// (exit 2) naming what is wrong, found before any packet is sent (the gateway named is a
// port nobody listens on).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../helpers/cli.js';

const NOWHERE = ['--gateway', 'coap://127.0.0.1:9'];
const PUBLISH = ['publish', '--image', '/nonexistent.bin', '--version', '2.0.0', '--targets', 'n1', '--signing-key', '/nonexistent.key', ...NOWHERE];

test('plan mistakes are usage errors naming the flag or field, before anything is sent', async () => {
  for (const [args, message] of [
    [[...PUBLISH, '--bake', '10m'], '--bake, --wave-failure-threshold and --health-gate go with --waves'],
    [[...PUBLISH, '--waves', '1,10%', '--bake', '10 minutes'], '--bake must be a span like 30s, 10m, 2h or 1d'],
    [[...PUBLISH, '--waves', '1,0%'], 'policy.waves: 1..16 sizes like "1" or "10%"'],
    [[...PUBLISH, '--window', 'Mon-Fri 02:00-05:00 Mars/Olympus'], 'ends with an IANA time zone'],
    [[...PUBLISH, '--window', 'Mon-Fri 02:00-02:00 UTC'], 'a range is HH:MM-HH:MM of two different times'],
    [[...PUBLISH, '--group-windows', 'Mon-Fri 02:00-05:00 UTC'], '--group-windows takes TAG=WINDOW|TAG=WINDOW'],
    [[...PUBLISH, '--waves', '1', '--health-gate', 'colour=red'], '--health-gate takes cpu=…,memory=…,restarts=…,alerts=…,on-breach=…,baseline=…'],
    [[...PUBLISH, '--waves', '1', '--health-gate', 'cpu=200'], 'policy.health_gate.cpu_margin_percent: 0..100'],
    [['rollout', 'pause', ...NOWHERE], 'expected: rollout list, or rollout status|pause|resume|cancel|watch ID'],
    [['rollout', 'status', 'u1', '--timeout', '5', ...NOWHERE], '--timeout goes with watch'],
    [['nodes', '--tag', 'no spaces', ...NOWHERE], 'is not a tag'],
  ] as const) {
    const result = await runCli(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
});

test('publish --help shows the plan flags', async () => {
  const result = await runCli(['publish', '--help']);
  assert.is(result.status, 0);
  for (const flag of ['--tags', '--waves', '--bake', '--wave-failure-threshold', '--window', '--group-windows', '--health-gate']) assert.match(result.stdout, flag);
});

test.run();
