// The unit files as systemd reads them: `systemd-analyze verify` finds nothing to say about
// either (an unknown key or a bad value is only a warning there, so its output must be
// empty, not just its status 0); they are Type=notify with a watchdog and the brief's
// budgets; and `systemd-analyze security --offline` keeps the hardening from sliding back.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const run = promisify(execFile);
const units = join(fileURLToPath(new URL('../../../', import.meta.url)), 'tools', 'systemd');

// The brief's budgets (reference/architecture-brief.md: gateway ~200 MB and ~0.2 cores,
// node ~100 MB and ~0.1 core) and the exposure each unit had when its hardening was last
// reviewed (systemd 252: 1.8 and 5.7; before that review 6.0 and 8.5), in tenths.
const UNITS = [
  { file: 'coap-fleet-server.service', memoryMax: '200M', cpuQuota: '20%', watchdog: '30s', exposureAtMost: 20 },
  { file: 'coap-fleet-agent.service', memoryMax: '100M', cpuQuota: '10%', watchdog: '2min', exposureAtMost: 60 },
];

/** The [Service] section's settings (the last value of a key wins, as in systemd). */
async function serviceSettings(file: string): Promise<Map<string, string>> {
  const settings = new Map<string, string>();
  let section = '';
  for (const line of (await readFile(join(units, file), 'utf8')).split('\n')) {
    if (/^\[.*\]$/.test(line)) section = line;
    else if (section === '[Service]' && /^[A-Za-z]+=/.test(line)) settings.set(line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1));
  }
  return settings;
}

for (const unit of UNITS) {
  test(`${unit.file}: systemd-analyze verify has nothing to say`, async () => {
    // ExecStart is /usr/bin/env, which exists here as on every Debian host; verify checks it.
    const { stdout, stderr } = await run('systemd-analyze', ['verify', join(units, unit.file)], { timeout: 60_000 });
    assert.is(stdout + stderr, '');
  });

  test(`${unit.file}: Type=notify with a watchdog, within the brief's budget`, async () => {
    const settings = await serviceSettings(unit.file);
    assert.is(settings.get('Type'), 'notify');
    assert.is(settings.get('NotifyAccess'), 'all', 'systemd-notify, our child, sends the notifications');
    assert.is(settings.get('WatchdogSec'), unit.watchdog);
    assert.is(settings.get('MemoryMax'), unit.memoryMax);
    assert.is(settings.get('CPUQuota'), unit.cpuQuota);
    assert.is(settings.get('Restart'), 'on-failure');
  });

  test(`${unit.file}: exposure at most ${unit.exposureAtMost / 10} (systemd-analyze security --offline)`, async () => {
    const verdict = await run('systemd-analyze', ['security', '--offline=yes', `--threshold=${unit.exposureAtMost}`, join(units, unit.file)], { timeout: 60_000 })
      .then(() => 'within', (error: { stdout?: string }) => /Overall exposure level[^\n]*/.exec(error.stdout ?? '')?.[0] ?? String(error));
    assert.is(verdict, 'within');
  });
}

test.run();
