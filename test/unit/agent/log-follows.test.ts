// The follows behind Observe /logs, on a virtual clock over real log files: one follow
// per distinct filter, at most maxFollows; each observer claims only the entries after its
// place (told `truncated` when batches it never took were dropped); polling stops when no
// observer is left, and a follow nobody claims goes. The observer count and the notify
// hook are the endpoint's in the agent; here two plain functions stand in for them.

import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileLogSource } from '../../../src/agent/file-log-source.js';
import { LogFollows } from '../../../src/agent/log-follows.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { waitFor } from '../../helpers/wait.js';
import { ArmedClock } from './armed-clock.js';
import { tempDir } from './fake-gateway.js';

const POLL_MS = 1000;

async function withFollows(run: (context: { follows: LogFollows; clock: ArmedClock; app: string; db: string; observers: { count: number }; notified: { count: number } }) => Promise<void>): Promise<void> {
  const temp = await tempDir('coap-fleet-follows-');
  const app = join(temp.path, 'app.log');
  const db = join(temp.path, 'db.log');
  await writeFile(app, 'a0\n');
  await writeFile(db, 'd0\n');
  const clock = new ArmedClock();
  const observers = { count: 1 };
  const notified = { count: 0 };
  const follows = new LogFollows({
    source: new FileLogSource([app, db]), clock, log: createDaemonLogger({ level: 'silent', pretty: false, stream: { write: () => {} } }),
    observers: () => observers.count, notify: () => { notified.count++; }, pollMs: POLL_MS, maxFollows: 2,
  });
  try {
    await run({ follows, clock, app, db, observers, notified });
  } finally {
    await follows.stop();
    await temp.remove();
  }
}

/** Runs one poll: waits until it is armed, fires it, and waits until the next is armed
 * (or, when none should be, until the poll has ended). */
async function poll(clock: ArmedClock, expectNext = true): Promise<void> {
  await clock.armed((delay) => delay === POLL_MS, 'a poll');
  clock.advance(POLL_MS);
  if (expectNext) await clock.armed((delay) => delay === POLL_MS, 'the next poll');
}

test('one follow per filter, at most maxFollows; each observer gets only what came after its place', () => withFollows(async ({ follows, clock, app, db, notified }) => {
  const source = new FileLogSource([app, db]);
  const appRead = await source.read({ unit: 'app.log', lines: 10 });
  const first = follows.join({ unit: 'app.log', lines: 10 }, appRead.cursor)!;
  const second = follows.join({ unit: 'app.log', lines: 5, sinceMs: 0 }, appRead.cursor)!;
  assert.is(second.follow, first.follow, 'lines and since do not make another follow');
  const dbPlace = follows.join({ unit: 'db.log', lines: 10 }, (await source.read({ unit: 'db.log', lines: 10 })).cursor)!;
  assert.is(follows.size, 2);
  assert.is(follows.join({ priority: 3, lines: 10 }, new Map()), undefined, 'a third filter is past the bound');

  await appendFile(app, 'a1\na2\n');
  await poll(clock);
  assert.is(notified.count, 1);
  assert.equal(follows.claim(first).entries.map((entry) => entry.message), ['a1', 'a2']);
  assert.equal(follows.claim(dbPlace).entries, [], 'nothing new in db.log');
  await appendFile(app, 'a3\n');
  await poll(clock);
  assert.equal(follows.claim(first).entries.map((entry) => entry.message), ['a3']);
  const late = follows.claim(second);
  assert.equal(late.entries.map((entry) => entry.message), ['a1', 'a2', 'a3'], 'the slower observer gets both batches');
  assert.is(late.truncated, false);
  assert.equal(follows.claim(first).entries, []);
}));

test('an observer that missed more batches than are kept is told truncated', () => withFollows(async ({ follows, clock, app }) => {
  const place = follows.join({ unit: 'app.log', lines: 10 }, (await new FileLogSource([app]).read({ unit: 'app.log', lines: 10 })).cursor)!;
  const keeper = follows.join({ unit: 'app.log', lines: 10 }, undefined)!;
  for (let index = 0; index < 20; index++) {
    await appendFile(app, `line ${index}\n`);
    await poll(clock);
    // Another observer keeps the follow claimed, so it is not taken for abandoned.
    follows.claim(keeper);
  }
  const claimed = follows.claim(place);
  assert.is(claimed.truncated, true);
  assert.is(claimed.entries.at(-1)?.message, 'line 19');
  assert.ok(claimed.entries.length < 20);
}));

test('no observer left: the follows go and polling stops; a follow nobody claims for 5 minutes goes too', () => withFollows(async ({ follows, clock, app, observers }) => {
  const cursor = (await new FileLogSource([app]).read({ unit: 'app.log', lines: 10 })).cursor;
  follows.join({ unit: 'app.log', lines: 10 }, cursor);
  await appendFile(app, 'unread\n');
  for (let elapsed = 0; elapsed < 5 * 60_000; elapsed += POLL_MS) await poll(clock);
  assert.is(follows.size, 1, 'still within 5 minutes');
  await poll(clock, false);
  await waitFor('the unclaimed follow to go', () => follows.size === 0 && !clock.armedDelays.includes(POLL_MS));

  follows.join({ unit: 'app.log', lines: 10 }, cursor);
  observers.count = 0;
  await poll(clock, false);
  await waitFor('the follows to go with the last observer', () => follows.size === 0);
  assert.not.ok(clock.armedDelays.includes(POLL_MS), 'no poll armed');
}));

test.run();
