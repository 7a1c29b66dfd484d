// The metrics sampler on a virtual clock: a sample at start and at each interval, a
// history bounded to metrics_history, samples after an instant, a live interval change,
// listeners told of each sample, and no timer left after stop. The samples are read by
// SystemMetrics from /proc files the test writes.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetricsSampler } from '../../../src/agent/metrics-sampler.js';
import { SystemMetrics } from '../../../src/agent/system-metrics.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { waitFor } from '../../helpers/wait.js';
import { tempDir } from './fake-gateway.js';
import { writeProc } from './proc-files.js';

const EPOCH = Date.UTC(2026, 11, 6, 12);

test('a sample at start and at every interval; the history keeps the newest; since() those after an instant; the interval changes live', async () => {
  const temp = await tempDir('coap-fleet-sampler-');
  const clock = new VirtualClock();
  const log = createDaemonLogger({ level: 'warn', pretty: false, stream: { write: () => {} } });
  const sampler = new MetricsSampler({
    source: new SystemMetrics({ procRoot: await writeProc(temp.path), thermalRoot: join(temp.path, 'none') }),
    clock, intervalS: 30, history: 3, log, wallTime: () => EPOCH + clock.now(),
  });
  const told: string[] = [];
  sampler.onSample((sample) => told.push(sample.at));
  try {
    await sampler.start();
    assert.is(sampler.latest()?.at, new Date(EPOCH).toISOString(), 'the first sample is taken at start');
    for (let index = 1; index <= 4; index++) {
      clock.advance(30_000);
      await waitFor(`sample ${index}`, () => told.length === index + 1);
    }
    assert.is(told.length, 5);
    assert.equal(told, [0, 30, 60, 90, 120].map((s) => new Date(EPOCH + s * 1000).toISOString()));
    assert.equal(sampler.since(0).map((sample) => sample.at), told.slice(2), 'the history holds the newest 3');
    assert.equal(sampler.since(EPOCH + 60_000).map((sample) => sample.at), told.slice(3), 'strictly after the instant');
    assert.equal(sampler.since(EPOCH + 120_000), []);
    assert.is(sampler.latest()?.at, told[4]);

    sampler.setIntervalS(5);
    assert.is(sampler.intervalS, 5);
    clock.advance(5000);
    await waitFor('a sample 5 s after the change', () => told.length === 6);
    assert.is(told[5], new Date(EPOCH + 125_000).toISOString());
  } finally {
    await sampler.stop();
    await temp.remove();
  }
  assert.is(clock.pendingTimers, 0, 'no timer left after stop');
});

test('a /proc that cannot be read: no sample, one warning, and sampling goes on', async () => {
  const temp = await tempDir('coap-fleet-sampler-');
  const clock = new VirtualClock();
  const warnings: string[] = [];
  const log = createDaemonLogger({ level: 'warn', pretty: false, stream: { write: (line: string) => { warnings.push(line); } } });
  const sampler = new MetricsSampler({ source: new SystemMetrics({ procRoot: join(temp.path, 'missing') }), clock, intervalS: 1, history: 2, log });
  try {
    await sampler.start();
    clock.advance(1000);
    await waitFor('the second attempt armed its successor', () => clock.pendingTimers === 1 && warnings.length === 1);
    clock.advance(1000);
    await waitFor('the third attempt armed its successor', () => clock.pendingTimers === 1);
    assert.is(sampler.latest(), undefined);
    assert.is(warnings.length, 1, 'one warning per failing spell');
  } finally {
    await sampler.stop();
    await temp.remove();
  }
});

test.run();
