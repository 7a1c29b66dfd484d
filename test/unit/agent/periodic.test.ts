// The agent's periodic tasks (periodic.ts) on the virtual clock: the next run one period
// after the last one ended, never two at once; a new period re-arms at once; stop stops.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Periodic } from '../../../src/agent/periodic.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('runs one period after the last run ended; a slow run delays the next instead of overlapping it', async () => {
  const clock = new VirtualClock();
  const runs: number[] = [];
  let finish: (() => void) | undefined;
  const periodic = new Periodic(clock, { requested: false }, 1000, () => {
    runs.push(clock.now());
    return new Promise<void>((resolve) => { finish = resolve; });
  });
  periodic.start();
  clock.advance(999);
  assert.equal(runs, []);
  clock.advance(1);
  assert.equal(runs, [1000]);
  clock.advance(5000);
  assert.equal(runs, [1000], 'no second run while the first is under way');
  finish!();
  await flush();
  clock.advance(1000);
  assert.equal(runs, [1000, 7000], 'one period after the first ended (at 6000)');
  periodic.stop();
});

test('a new period re-arms at once; after stop nothing runs, even if the period changes', async () => {
  const clock = new VirtualClock();
  const runs: number[] = [];
  const periodic = new Periodic(clock, { requested: false }, 60_000, async () => { runs.push(clock.now()); });
  periodic.setPeriodMs(30_000);
  clock.advance(120_000);
  assert.equal(runs, [], 'not started: a new period arms nothing');
  periodic.start();
  clock.advance(10_000);
  periodic.setPeriodMs(5000);
  assert.is(periodic.periodMs, 5000);
  clock.advance(5000);
  assert.equal(runs, [135_000]);
  await flush();
  periodic.stop();
  periodic.setPeriodMs(1000);
  clock.advance(60_000);
  assert.equal(runs, [135_000]);
  assert.is(clock.pendingTimers, 0);
});

test('a run that fails does not end the schedule; a stop requested by the agent does', async () => {
  const clock = new VirtualClock();
  const stop = { requested: false };
  let runs = 0;
  const periodic = new Periodic(clock, stop, 1000, async () => { runs++; throw new Error('refused'); });
  periodic.start();
  clock.advance(1000);
  await flush();
  clock.advance(1000);
  assert.is(runs, 2);
  stop.requested = true;
  await flush();
  clock.advance(5000);
  assert.is(runs, 2);
});

test.run();
