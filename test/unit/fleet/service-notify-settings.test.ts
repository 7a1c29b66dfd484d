// What a daemon reads from systemd's environment (sd_notify(3), sd_watchdog_enabled(3)) and
// the notification lines it sends: pure functions, no socket.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_STATUS_CHARS, mergeNotifications, notificationLines, notifySettings } from '../../../src/fleet/service-notify-settings.js';

test('no NOTIFY_SOCKET (or an empty one): nothing to send', () => {
  assert.is(notifySettings({}, 10), null);
  assert.is(notifySettings({ NOTIFY_SOCKET: '', WATCHDOG_USEC: '1000000' }, 10), null);
});

test('the watchdog pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names (or any without it)', () => {
  assert.equal(notifySettings({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000' }, 10), { socket: '/run/n', watchdogIntervalMs: 15_000 });
  assert.is(notifySettings({ NOTIFY_SOCKET: '@abstract', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '10' }, 10)?.watchdogIntervalMs, 15_000);
  assert.is(notifySettings({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '11' }, 10)?.watchdogIntervalMs, null);
  assert.is(notifySettings({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '1' }, 10)?.watchdogIntervalMs, 1, 'never a timer of 0 ms');
  for (const usec of ['0', '-5', '1e6', 'abc', '', '12345678901234567890']) {
    assert.is(notifySettings({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: usec }, 10)?.watchdogIntervalMs, null, usec);
  }
});

test('pending notifications keep one value per variable, the newest', () => {
  const merged = [{ WATCHDOG: '1' }, { STATUS: 'a' }, { WATCHDOG: '1', STATUS: 'b' }, { READY: '1' }].reduce(mergeNotifications, {});
  assert.equal(merged, { WATCHDOG: '1', STATUS: 'b', READY: '1' });
});

test('lines: READY and STOPPING before STATUS; a status is one line, cut to its bound', () => {
  assert.equal(notificationLines({ WATCHDOG: '1', STATUS: 'serving\nnow\r\n', READY: '1' }), ['READY=1', 'STATUS=serving now', 'WATCHDOG=1']);
  const long = notificationLines({ STATUS: 'x'.repeat(500) })[0]!;
  assert.is(long.length, 'STATUS='.length + MAX_STATUS_CHARS);
  assert.ok(long.endsWith('…'));
});

test.run();
