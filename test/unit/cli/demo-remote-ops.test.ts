// The demo's nodes for remote operations: the log file's lines carry a time and a
// priority as the agent's file log source reads them; the service manager program answers
// `status` with the JSON the agent's command adapter takes and changes state on
// start/stop/restart, logging each; the restart command only logs and leaves the marker;
// settings go to the agent only in groups it knows whole.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendDemoLog, prepareDemoNode, remoteOperationsAgentSettings, type DemoNodeFiles } from '../../../src/cli/demo-remote-ops.js';

const run = promisify(execFile);
let dir: string;
let files: DemoNodeFiles;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-demo-remote-ops-'));
  files = await prepareDemoNode(join(dir, 'node-1-files'), 'node-1', Date.parse('2026-12-06T20:00:00Z'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z <[0-7]>\S/;

test('the log starts with three lines of time, priority and message; more are appended', async () => {
  await appendDemoLog(files, 4, 'node-1: 10 requests served');
  const lines = (await readFile(files.logFile, 'utf8')).trimEnd().split('\n');
  assert.is(lines.length, 4);
  assert.is(lines[0], '2026-12-06T19:59:57.000Z <6>node-1: demo-app 1.0 starting');
  for (const line of lines) assert.match(line, LINE);
  assert.match(lines[3]!, /<4>node-1: 10 requests served$/);
});

test('the service manager: status as JSON, start/stop/restart change it and log it, other units refused', async () => {
  const status = async (unit: string) => JSON.parse((await run(files.servicesProgram, ['status', unit])).stdout) as Record<string, unknown>;
  const first = await status('demo-app.service');
  assert.equal({ ...first, since: typeof first.since }, {
    active_state: 'active', sub_state: 'running', since: 'string', restarts: 0, description: 'demo-app.service (coap-fleet demo)',
  });
  await run(files.servicesProgram, ['restart', 'demo-app.service']);
  assert.is((await status('demo-app.service')).restarts, 1);
  await run(files.servicesProgram, ['stop', 'demo-worker.service']);
  assert.equal([(await status('demo-worker.service')).active_state, (await status('demo-worker.service')).sub_state], ['inactive', 'dead']);
  const log = await readFile(files.logFile, 'utf8');
  assert.match(log, /<5>demo-app\.service restarted\n/);
  assert.match(log, /<5>demo-worker\.service stopped\n/);
  const refused = await run(files.servicesProgram, ['stop', 'sshd.service']).then(() => 0, (error: { code: number }) => error.code);
  assert.is(refused, 1);
});

test('restart and shutdown commands only log; a restart leaves the marker', async () => {
  const system = remoteOperationsAgentSettings(files, '/keys/operator-command.pub');
  assert.equal(system.operator_keys, ['/keys/operator-command.pub']);
  await run('/bin/sh', ['-c', system.restart_command as string]);
  assert.ok(existsSync(files.rebootMarker));
  await run('/bin/sh', ['-c', system.shutdown_command as string]);
  const log = await readFile(files.logFile, 'utf8');
  assert.match(log, /<4>signed restart: the demo starts the agent again instead of rebooting\n.*<4>signed shutdown: the demo leaves this node off/);

});

test.run();
