// The agent's read resources end to end: addReadResources on a real Endpoint over UDP
// loopback, our CoAP client asking; the samples from /proc files the test writes, the
// logs from real files, the services from a real script. The resources' timers (sampling,
// follow polling) run on a virtual clock the test advances; the exchanges on real time.

import { appendFile, chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addReadResources, type ReadConfig, type ReadResources } from '../../../src/agent/read-resources.js';
import { SystemMetrics } from '../../../src/agent/system-metrics.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import type { LogsView, MetricsView, ServicesView, ServiceView } from '../../../src/fleet/node-views.js';
import { describeCode, ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { decodeCbor } from '../../../src/fleet/cbor.js';
import { ArmedClock } from './armed-clock.js';
import { unexpectedWarnings } from './agent-harness.js';
import { tempDir } from './fake-gateway.js';
import { writeProc } from './proc-files.js';

const EPOCH = Date.UTC(2026, 11, 6, 12);
const INTERVAL_MS = 30_000;
const POLL_MS = 2000;

interface World {
  readonly clock: ArmedClock;
  readonly server: Endpoint;
  readonly client: Endpoint;
  readonly read: ReadResources;
  readonly dir: string;
  readonly appLog: string;
  readonly logs: Record<string, unknown>[];
  readonly uri: (path: string) => string;
}

async function withWorld(run: (world: World) => Promise<void>): Promise<void> {
  const temp = await tempDir('coap-fleet-read-');
  const appLog = join(temp.path, 'app.log');
  await writeFile(appLog, 'started\n');
  const script = join(temp.path, 'svc');
  await writeFile(script, `#!/bin/sh\nprintf '%s %s\\n' "$1" "$2" >> "${temp.path}/calls"\n`
    + `echo '{"active_state":"active","sub_state":"running","description":"'"$2"'"}'\n`);
  await chmod(script, 0o755);
  const clock = new ArmedClock();
  const logs: Record<string, unknown>[] = [];
  const log = createDaemonLogger({ level: 'debug', pretty: false, stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  // No retransmission however loaded the machine: a retransmitted GET may run its handler
  // again (RFC 7252 §4.5), and the tests count the service manager's runs exactly.
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 }, { parameters: { ackTimeout: 20_000 } });
  const config: ReadConfig = {
    nodeId: 'n1', metricsIntervalS: INTERVAL_MS / 1000, metricsHistory: 3, logSource: 'files', logFiles: [appLog],
    allowedUnits: ['web', 'worker'], servicesAdapter: 'command', servicesCommand: script,
  };
  const read = addReadResources(server, config, clock, log, {
    metrics: new SystemMetrics({ procRoot: await writeProc(temp.path), thermalRoot: join(temp.path, 'none') }),
    wallTime: () => EPOCH + clock.now(), logFollowPollMs: POLL_MS,
  });
  try {
    await read.start();
    const port = server.address().port;
    await run({ clock, server, client, read, dir: temp.path, appLog, logs, uri: (path) => `coap://127.0.0.1:${port}${path}` });
    assert.equal(unexpectedWarnings(logs, []), []);
  } finally {
    await read.stop();
    await Promise.all([client.close(), server.close()]);
    await temp.remove();
  }
}

const json = <T>(response: CoapResponse): T => JSON.parse(response.payload.toString('utf8')) as T;
const expectCode = (response: CoapResponse, code: number): void =>
  assert.is(describeCode(response.code), describeCode(code), response.payload.toString('utf8'));

/** The next notification, failing after a real-time bound. */
async function nextOf(iterator: AsyncIterator<CoapResponse>, what: string): Promise<CoapResponse> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no notification: ${what}`)), 30_000); });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    if (result.done === true) throw new Error(`observation ended: ${what}`);
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

test('GET /metrics: the latest sample, Max-Age the interval; ?since= the kept ones after it; a bad since is 4.00; CBOR by Accept', () => withWorld(async ({ clock, client, uri }) => {
  const first = await client.request({ uri: uri('/metrics') });
  expectCode(first, ResponseCode.Content);
  const view = json<MetricsView>(first);
  assert.is(view.node_id, 'n1');
  assert.is(view.interval_s, 30);
  assert.equal(view.samples.map((sample) => sample.at), [new Date(EPOCH).toISOString()]);
  assert.is(view.samples[0]!.memory_total_bytes, 2048 * 1024);
  assert.is(getUintOption(first.options, OptionNumber.MaxAge), 30);

  for (let index = 1; index <= 3; index++) {
    await clock.armed((delay) => delay === INTERVAL_MS, `sampling timer ${index}`);
    clock.advance(INTERVAL_MS);
  }
  await clock.armed((delay) => delay === INTERVAL_MS, 'sampling timer after the third');
  const since = await client.request({ uri: uri(`/metrics?since=${encodeURIComponent(new Date(EPOCH + INTERVAL_MS).toISOString())}`) });
  assert.equal(json<MetricsView>(since).samples.map((sample) => sample.at), [2, 3].map((n) => new Date(EPOCH + n * INTERVAL_MS).toISOString()));
  const sinceMs = await client.request({ uri: uri(`/metrics?since=${EPOCH - 1}`) });
  assert.is(json<MetricsView>(sinceMs).samples.length, 3, 'the history keeps metrics_history samples');

  const bad = await client.request({ uri: uri('/metrics?since=yesterday') });
  expectCode(bad, ResponseCode.BadRequest);
  assert.match(bad.payload.toString('utf8'), /since: an RFC 3339/);
  const unknown = await client.request({ uri: uri('/metrics?from=1') });
  expectCode(unknown, ResponseCode.BadRequest);

  const cbor = await client.request({ uri: uri('/metrics'), accept: ContentFormat.Cbor });
  assert.is(cbor.contentFormat, ContentFormat.Cbor);
  assert.is((decodeCbor(cbor.payload) as unknown as MetricsView).samples.length, 1);
}));

test('Observe /metrics: notified with the latest sample at each new one; the interval changes live', () => withWorld(async ({ clock, client, read, uri }) => {
  const { observation, first } = await client.observe({ uri: uri(`/metrics?since=${EPOCH - 1}`) });
  assert.is(json<MetricsView>(first).samples.length, 1);
  const notifications = observation[Symbol.asyncIterator]();
  await clock.armed((delay) => delay === INTERVAL_MS, 'sampling timer');
  clock.advance(INTERVAL_MS);
  const second = json<MetricsView>(await nextOf(notifications, 'the second sample'));
  assert.equal(second.samples.map((sample) => sample.at), [new Date(EPOCH + INTERVAL_MS).toISOString()], 'the latest sample only, though the registration said since');

  read.sampler.setIntervalS(5);
  await clock.armed((delay) => delay === 5000, 'the 5 s sampling timer');
  clock.advance(5000);
  const third = json<MetricsView>(await nextOf(notifications, 'a sample 5 s later'));
  assert.equal(third.samples.map((sample) => sample.at), [new Date(EPOCH + INTERVAL_MS + 5000).toISOString()]);
  assert.is(third.interval_s, 5);
  await observation.cancel();
}));

test('GET /services: the allowed units from the manager; /services/{name} one of them; an unknown name is 4.04 and runs nothing', () => withWorld(async ({ client, read, dir, uri }) => {
  const list = await client.request({ uri: uri('/services') });
  expectCode(list, ResponseCode.Content);
  const view = json<ServicesView>(list);
  assert.equal(view.services.map((service) => `${service.name} ${service.active_state} ${service.description}`), ['web active web', 'worker active worker']);
  const one = await client.request({ uri: uri('/services/worker') });
  assert.is(json<ServiceView>(one).name, 'worker');
  const ghost = await client.request({ uri: uri('/services/ghost') });
  expectCode(ghost, ResponseCode.NotFound);
  const hostile = await client.request({ uri: uri('/services/--help') });
  expectCode(hostile, ResponseCode.NotFound);
  read.services.setAllowedUnits(['web']);
  expectCode(await client.request({ uri: uri('/services/worker') }), ResponseCode.NotFound);
  assert.is(json<ServicesView>(await client.request({ uri: uri('/services') })).services.length, 1);
  const calls = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
  // The list asks for both units at once: their two runs append in either order.
  assert.equal([...calls.slice(0, 2).sort(), ...calls.slice(2)], ['status web', 'status worker', 'status worker', 'status web']);
}));

test('GET /logs: the file\'s last lines, block-wise when large; lines and bytes bounded; bad arguments are 4.00', () => withWorld(async ({ client, appLog, uri }) => {
  const long = 'x'.repeat(120);
  await appendFile(appLog, Array.from({ length: 1500 }, (_, i) => `${i} ${long}`).join('\n') + '\n');
  const small = await client.request({ uri: uri('/logs?lines=2') });
  expectCode(small, ResponseCode.Content);
  const smallView = json<LogsView>(small);
  assert.equal(smallView.entries.map((entry) => entry.message.split(' ')[0]), ['1498', '1499']);
  assert.is(smallView.entries[0]!.unit, 'app.log');
  assert.is(smallView.truncated, true);
  assert.ok(small.payload.length <= 1024, 'one block');

  const large = await client.request({ uri: uri('/logs?lines=1000') });
  expectCode(large, ResponseCode.Content);
  // Far more than one datagram's block can carry (RFC 7959 §2.2): the endpoint served it
  // block by block and our client joined them.
  const view = json<LogsView>(large);
  assert.is(view.entries.length, 1000);
  assert.is(view.entries[999]!.message, `1499 ${long}`);
  assert.ok(large.payload.length > 150_000 && large.payload.length <= 256 * 1024, `${large.payload.length} bytes`);

  await appendFile(appLog, Array.from({ length: 1000 }, (_, i) => `${i} ${'y'.repeat(400)}`).join('\n') + '\n');
  const bounded = await client.request({ uri: uri('/logs?lines=1000') });
  assert.ok(bounded.payload.length <= 256 * 1024, `${bounded.payload.length} bytes`);
  const boundedView = json<LogsView>(bounded);
  assert.ok(boundedView.entries.length < 1000 && boundedView.truncated);
  assert.is(boundedView.entries.at(-1)!.message, `999 ${'y'.repeat(400)}`);

  for (const query of ['lines=0', 'lines=1001', 'priority=8', 'since=soon', 'unit=-x', 'grep=foo']) {
    const refused = await client.request({ uri: uri(`/logs?${query}`) });
    expectCode(refused, ResponseCode.BadRequest);
  }
}));

test('Observe /logs follows: only the new lines in each notification; polling stops when the last observer leaves', () => withWorld(async ({ clock, client, appLog, uri }) => {
  const { observation, first } = await client.observe({ uri: uri('/logs?unit=app.log') });
  assert.equal(json<LogsView>(first).entries.map((entry) => entry.message), ['started']);
  const notifications = observation[Symbol.asyncIterator]();
  await appendFile(appLog, 'one\n<3>two\n');
  await clock.armed((delay) => delay === POLL_MS, 'the follow poll');
  clock.advance(POLL_MS);
  const news = json<LogsView>(await nextOf(notifications, 'the appended lines'));
  assert.equal(news.entries.map((entry) => `${entry.priority} ${entry.message}`), ['6 one', '3 two']);
  assert.is(news.truncated, false);

  await appendFile(appLog, 'three\n');
  await clock.armed((delay) => delay === POLL_MS, 'the next follow poll');
  clock.advance(POLL_MS);
  assert.equal(json<LogsView>(await nextOf(notifications, 'the third line')).entries.map((entry) => entry.message), ['three']);

  await observation.cancel();
  await clock.armed((delay) => delay === POLL_MS, 'the poll after the cancellation');
  clock.advance(POLL_MS);
  // The poll that finds no observer arms no other.
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && clock.armedDelays.includes(POLL_MS)) await new Promise((resolve) => setImmediate(resolve));
  assert.not.ok(clock.armedDelays.includes(POLL_MS), `armed: ${clock.armedDelays.join(', ')}`);
}));

test.run();
