// Maintenance windows (src/fleet/maintenance-window.ts): the next opening is inside the
// window and nothing before it is, across daylight saving time changes (Europe/Berlin,
// America/New_York, Australia/Lord_Howe with its half-hour shift); and fixed cases on the
// days the clocks move.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { isInside, nextOpening, parseWindow, secondsUntilOpen, type MaintenanceWindow } from '../../src/fleet/maintenance-window.js';

const BOUND = { numRuns: 150, interruptAfterTimeLimit: 8000 };
const MINUTE = 60_000;

const windowOf = (text: string): MaintenanceWindow => {
  const parsed = parseWindow(text);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed;
};

const zone = fc.constantFrom('Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'UTC', 'Asia/Kathmandu');
const hhmm = (minute: number): string => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
const range = fc.tuple(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 1, max: 1440 }))
  .filter(([start, end]) => start !== end)
  .map(([start, end]) => `${hhmm(start)}-${hhmm(end)}`);
const days = fc.constantFrom('Mon-Fri', 'Sat,Sun', 'daily', 'Fri-Mon', 'Wed', 'Sun');
const windowText = fc.tuple(fc.array(fc.tuple(days, fc.array(range, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 3 }), zone)
  .map(([clauses, timeZone]) => `${clauses.map(([d, ranges]) => `${d} ${ranges.join(',')}`).join('; ')} ${timeZone}`);
// 2026 through 2027, DST changes included; and near the 2026 changes of the zones above.
const anyTime = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 11, 31) });
const nearChange = fc.tuple(fc.constantFrom(Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1), Date.UTC(2026, 2, 8, 7), Date.UTC(2026, 10, 1, 6), Date.UTC(2026, 3, 4, 15)),
  fc.integer({ min: -3 * 86_400_000, max: 3 * 86_400_000 })).map(([base, delta]) => base + delta);
const instant = fc.oneof(anyTime, nearChange);

test('the next opening is inside the window, not before the given time, and no minute between is inside', () => {
  fc.assert(fc.property(windowText, instant, (text, at) => {
    const window = windowOf(text);
    const opening = nextOpening(window, at);
    assert.ok(opening >= at, 'not before');
    assert.ok(isInside(window, opening), 'inside');
    assert.ok(opening - at <= 8 * 86_400_000, 'within 8 days');
    // Every whole minute between is outside (the window changes only at whole minutes).
    for (let t = Math.ceil(at / MINUTE) * MINUTE; t < opening; t += t + 6 * 3_600_000 < opening ? 97 * MINUTE : MINUTE) {
      assert.not.ok(isInside(window, t), `inside at ${new Date(t).toISOString()} before ${new Date(opening).toISOString()}`);
    }
    if (opening > at) assert.not.ok(isInside(window, opening - MINUTE > at ? opening - MINUTE : at), 'the minute before is outside');
  }), BOUND);
});

test('inside means open now: Max-Age 0; outside, Max-Age reaches the opening (at least 1 s)', () => {
  fc.assert(fc.property(windowText, instant, (text, at) => {
    const window = windowOf(text);
    const seconds = secondsUntilOpen(window, at);
    if (isInside(window, at)) assert.is(seconds, 0);
    else {
      assert.ok(seconds >= 1);
      assert.ok(isInside(window, at + seconds * 1000), 'open when the Max-Age is over');
    }
  }), BOUND);
});

test('spring forward in Berlin: a window starting in the skipped hour opens at 03:00 CEST', () => {
  const window = windowOf('daily 02:30-04:00 Europe/Berlin');
  // 2026-03-29 00:00 CET = 2026-03-28T23:00Z; clocks go from 02:00 CET to 03:00 CEST at 01:00Z.
  assert.is(new Date(nextOpening(window, Date.UTC(2026, 2, 28, 23))).toISOString(), '2026-03-29T01:00:00.000Z');
  // Closed again at 04:00 CEST = 02:00Z.
  assert.not.ok(isInside(window, Date.UTC(2026, 2, 29, 2)));
  assert.ok(isInside(window, Date.UTC(2026, 2, 29, 1, 59)));
});

test('fall back in Berlin: a range inside the repeated hour opens twice', () => {
  const window = windowOf('Sun 02:00-02:30 Europe/Berlin');
  // 2026-10-25: 02:00 CEST = 00:00Z, then at 01:00Z (03:00 CEST) back to 02:00 CET.
  assert.is(new Date(nextOpening(window, Date.UTC(2026, 9, 24, 12))).toISOString(), '2026-10-25T00:00:00.000Z');
  assert.is(new Date(nextOpening(window, Date.UTC(2026, 9, 25, 0, 30))).toISOString(), '2026-10-25T01:00:00.000Z');
  assert.is(new Date(nextOpening(window, Date.UTC(2026, 9, 25, 1, 30))).toISOString(), '2026-11-01T01:00:00.000Z');
});

test('weekdays and ranges past midnight: Friday 22:00-02:00 runs into Saturday, not into Monday', () => {
  const window = windowOf('Fri 22:00-02:00 UTC');
  assert.ok(isInside(window, Date.UTC(2026, 11, 5, 1, 59)), 'Saturday 01:59');
  assert.not.ok(isInside(window, Date.UTC(2026, 11, 5, 2)), 'Saturday 02:00');
  assert.not.ok(isInside(window, Date.UTC(2026, 11, 7, 1)), 'Monday 01:00');
  assert.is(new Date(nextOpening(window, Date.UTC(2026, 11, 5, 2))).toISOString(), '2026-12-11T22:00:00.000Z');
});

test('bad windows are refused with the reason', () => {
  for (const [text, pattern] of [
    ['Mon-Fri 02:00-05:00', /time zone/], ['Mon-Fri 02:00-05:00 Mars/Olympus', /time zone/], ['Monday 02:00-05:00 UTC', /days/],
    ['Mon-Fri 02:00-02:00 UTC', /range/], ['Mon-Fri 25:00-26:00 UTC', /range/], ['Mon-Fri UTC', /time zone|clause/], ['x'.repeat(300), /256/],
  ] as const) {
    const parsed = parseWindow(text);
    assert.ok('problem' in parsed && pattern.test(parsed.problem), `${text}: ${JSON.stringify(parsed)}`);
  }
});

test.run();
