// The thinning of a node's metrics history with age (src/server/metrics-tiers.ts): every
// sample of the last hour down to one per 5 s, one per 5 minutes up to a day, one per hour
// up to 30 days, nothing older, and never more than the cap.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { METRICS_CAP_PER_NODE, samplesToDrop } from '../../../src/server/metrics-tiers.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-03-01T00:00:00Z');

/** Sample times every `stepMs` from `fromAge` ago to `toAge` ago, oldest first. */
const every = (stepMs: number, fromAgeMs: number, toAgeMs: number): number[] => {
  const times: number[] = [];
  for (let at = NOW - fromAgeMs; at <= NOW - toAgeMs; at += stepMs) times.push(at);
  return times;
};
const kept = (times: readonly number[], now = NOW): number[] => {
  const dropped = new Set(samplesToDrop(times, now));
  return times.filter((at) => !dropped.has(at));
};

test('the last hour keeps every sample 5 s or more apart; faster ones are thinned to one per 5 s', () => {
  const tenSeconds = every(10 * SECOND, HOUR - 10 * SECOND, 0);
  assert.equal(kept(tenSeconds), tenSeconds);
  const oneSecond = every(SECOND, 10 * MINUTE, 0);
  const thinned = kept(oneSecond);
  assert.is(thinned.length, 10 * 12 + 1);
  assert.ok(thinned.every((at) => at % (5 * SECOND) === 0), 'the oldest of each 5 s bucket');
});

test('past an hour one sample per 5 minutes, past a day one per hour, past 30 days none', () => {
  const day = every(10 * SECOND, DAY - 10 * SECOND, HOUR);
  assert.is(kept(day).length, (DAY - HOUR) / (5 * MINUTE) + 1, 'each 5 minute bucket from a day ago to an hour ago');
  const month = every(5 * MINUTE, 30 * DAY - 5 * MINUTE, DAY);
  assert.is(kept(month).length, 29 * 24 + 1, 'each hour from 30 days ago to a day ago');
  assert.equal(kept([NOW - 31 * DAY, NOW - 30 * DAY]), []);
  assert.equal(kept([NOW - 30 * DAY + 1]), [NOW - 30 * DAY + 1]);
});

test('a full history at 5 s stays under the cap; the cap drops the oldest first', () => {
  const full = [...every(5 * MINUTE, 30 * DAY - 5 * MINUTE, HOUR), ...every(5 * SECOND, HOUR - 5 * SECOND, 0)];
  const thinned = kept(full);
  assert.is(thinned.length, 697 + 276 + 720);
  const crowded = every(5 * SECOND, 0, -3 * HOUR); // a clock ahead of ours: all "new"
  const capped = kept(crowded);
  assert.is(capped.length, METRICS_CAP_PER_NODE);
  assert.equal(capped, crowded.slice(-METRICS_CAP_PER_NODE));
});

test('thinning is stable: a second pass at the same time drops nothing more, a later one only what aged', () => {
  const times = every(10 * SECOND, 2 * HOUR, 0);
  const once = kept(times);
  assert.equal(kept(once), once);
  const later = kept(once, NOW + 30 * MINUTE);
  assert.ok(later.length < once.length);
  assert.equal(kept(later, NOW + 30 * MINUTE), later);
});

test.run();
