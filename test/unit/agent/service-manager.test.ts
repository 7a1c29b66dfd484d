// The service managers: the command adapter against a real script the test writes (its
// status JSON, its actions, a bad answer, one that fails), the systemd adapter's reading
// of `systemctl show` output as systemd 252 prints it, and the same adapter running a
// fake `systemctl` (a real process) so the arguments it passes are checked.

import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandServiceManager, parseCommandStatus } from '../../../src/agent/command-services.js';
import { ServiceManagerError } from '../../../src/agent/errors.js';
import { createServiceManager } from '../../../src/agent/service-manager.js';
import { parseSystemctlShow, parseSystemdTimestamp, serviceView, SystemdServiceManager } from '../../../src/agent/systemd-services.js';
import { tempDir } from './fake-gateway.js';

/** `systemctl show --property=Id,Description,ActiveState,SubState,StateChangeTimestamp,NRestarts
 * --timestamp=utc ssh.service systemd-tmpfiles-clean.timer nope.service` on Debian 12. */
const SYSTEMCTL_SHOW = `NRestarts=2
Id=ssh.service
Description=OpenBSD Secure Shell server
ActiveState=active
SubState=running
StateChangeTimestamp=Sun 2026-12-06 19:58:03 UTC

Id=systemd-tmpfiles-clean.timer
Description=Daily Cleanup of Temporary Directories
ActiveState=active
SubState=waiting
StateChangeTimestamp=Sun 2026-12-06 08:12:44 UTC

Id=nope.service
Description=nope.service
ActiveState=inactive
SubState=dead
`;

test('systemctl show: one view per block, in order; a timestamp in UTC; no restarts or time when systemd shows none', () => {
  const blocks = parseSystemctlShow(SYSTEMCTL_SHOW);
  assert.is(blocks.length, 3);
  assert.equal(blocks.map((block, index) => serviceView(['ssh.service', 'systemd-tmpfiles-clean.timer', 'nope.service'][index]!, block)), [
    { name: 'ssh.service', description: 'OpenBSD Secure Shell server', active_state: 'active', sub_state: 'running', since: '2026-12-06T19:58:03.000Z', restarts: 2 },
    { name: 'systemd-tmpfiles-clean.timer', description: 'Daily Cleanup of Temporary Directories', active_state: 'active', sub_state: 'waiting', since: '2026-12-06T08:12:44.000Z', restarts: null },
    { name: 'nope.service', description: 'nope.service', active_state: 'inactive', sub_state: 'dead', since: null, restarts: null },
  ]);
  assert.is(serviceView('ssh', blocks[0]!).name, 'ssh', 'the name allowed_units gives, not the Id systemd completed');
  assert.is(parseSystemdTimestamp('Sun 2026-12-06 19:58:03.123456 UTC'), '2026-12-06T19:58:03.123Z');
  assert.is(parseSystemdTimestamp('n/a'), null);
  assert.is(parseSystemdTimestamp('Sun 2026-12-06 19:58:03 CET'), null, 'only UTC, as --timestamp=utc prints');
});

async function withScript(name: string, body: string, run: (program: string, dir: string) => Promise<void>): Promise<void> {
  const temp = await tempDir('coap-fleet-services-');
  try {
    const program = join(temp.path, name);
    await writeFile(program, `#!/bin/sh\nprintf '%s\\n' "$@" >> "${temp.path}/calls"\n${body}\n`);
    await chmod(program, 0o755);
    await run(program, temp.path);
  } finally {
    await temp.remove();
  }
}

test('systemd adapter: one systemctl show for all units, names after --; actions as systemctl ACTION -- UNIT', async () => {
  await withScript('systemctl', `if [ "$1" = show ]; then cat <<'EOF'\n${SYSTEMCTL_SHOW}EOF\nfi`, async (program, dir) => {
    const manager = new SystemdServiceManager(program);
    const views = await manager.list(['ssh.service', 'systemd-tmpfiles-clean.timer', 'nope.service']);
    assert.equal(views.map((view) => view.active_state), ['active', 'active', 'inactive']);
    await manager.act('ssh.service', 'restart');
    const calls = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
    assert.equal(calls, [
      'show', '--property=Id,Description,ActiveState,SubState,StateChangeTimestamp,NRestarts', '--timestamp=utc', '--',
      'ssh.service', 'systemd-tmpfiles-clean.timer', 'nope.service', 'restart', '--', 'ssh.service',
    ]);
    const missing = await manager.status('ssh.service').then(() => undefined, (error: unknown) => error);
    assert.ok(missing instanceof ServiceManagerError, 'three blocks for one unit asked is not believed');
  });
});

const STATUS_SCRIPT = `case "$1" in
  status) case "$2" in
    web) echo '{"active_state":"active","sub_state":"running","since":"2026-12-06T19:00:00Z","restarts":1,"description":"the web app"}' ;;
    worker) echo '{"active_state":"failed","sub_state":"failed"}' ;;
    weird) echo 'not json' ;;
    *) echo "no such service $2" >&2; exit 3 ;;
  esac ;;
  start|stop|restart) [ "$2" = web ] || { echo "cannot $1 $2" >&2; exit 1; } ;;
  *) exit 2 ;;
esac`;

test('command adapter: PROGRAM status UNIT read as JSON; PROGRAM ACTION UNIT; failures and bad answers are ServiceManagerError', async () => {
  await withScript('svc', STATUS_SCRIPT, async (program, dir) => {
    const manager = createServiceManager({ servicesAdapter: 'command', servicesCommand: program });
    assert.ok(manager instanceof CommandServiceManager);
    assert.equal(await manager.list(['web', 'worker']), [
      { name: 'web', description: 'the web app', active_state: 'active', sub_state: 'running', since: '2026-12-06T19:00:00.000Z', restarts: 1 },
      { name: 'worker', description: '', active_state: 'failed', sub_state: 'failed', since: null, restarts: null },
    ]);
    await manager.act('web', 'stop');
    const refused = await manager.act('worker', 'start').then(() => undefined, (error: unknown) => error);
    assert.ok(refused instanceof ServiceManagerError);
    assert.match((refused as Error).message, /start worker exited 1: cannot start worker/);
    const unknown = await manager.status('ghost').then(() => undefined, (error: unknown) => error);
    assert.match(String((unknown as Error).message), /exited 3: no such service ghost/);
    const weird = await manager.status('weird').then(() => undefined, (error: unknown) => error);
    assert.match(String((weird as Error).message), /not JSON/);
    const calls = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
    assert.ok(calls.join(' ').includes('stop web'), calls.join(' '));
  });
});

test('parseCommandStatus: what the program must say', () => {
  assert.match(String(parseCommandStatus('u', '{"active_state":"active"}')), /sub_state/);
  assert.match(String(parseCommandStatus('u', '{"active_state":"a","sub_state":"b","since":"yesterday"}')), /since/);
  assert.match(String(parseCommandStatus('u', '{"active_state":"a","sub_state":"b","restarts":-1}')), /restarts/);
  assert.match(String(parseCommandStatus('u', '[]')), /object/);
});

test.run();
