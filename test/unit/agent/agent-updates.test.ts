// The agent in-process against a fake gateway over real UDP on loopback, with a real LMDB
// and real files: manifest refusals, a full A/B update, sha256 mismatch, a failing install
// hook and health check (rolled back), hooks that daemonise (the limit bounds the hook's
// own process), a slot directory that became unwritable, a gateway that declines the
// /updates registration, 5.03 Max-Age, 4.03, a cancelled rollout, an image not ready yet,
// and registration again after the gateway lost its state. Where a test is about time
// (back-off, Max-Age, the health period) the agent runs on a virtual clock (ArmedClock).

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { FakeGateway, makeImage, makePublisher, tempDir, type Offered } from './fake-gateway.js';
import { agentWorld, startAgent as startWith, unexpectedWarnings, type AgentWorld as World, type RunningAgent } from './agent-harness.js';
import { killMarked, processMarker } from '../../helpers/processes.js';
import { DECLINED_BASE_MS, DECLINED_CAP_MS } from '../../../src/agent/updates-watch.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { declineObservers } from './declining-updates.js';
import { ArmedClock } from './armed-clock.js';

const world = (): Promise<World> => agentWorld('coap-fleet-agent-');

const startAgent = (w: World, fields: Parameters<typeof startWith>[3] = {}, options: Parameters<typeof startWith>[5] = {}): Promise<RunningAgent> =>
  startWith(w.data, w.gateway, w.publisher, fields, w.logs, options);

async function offer(w: World, fields: { updateId: string; version: string; size: number; targets?: string[] }): Promise<Offered & { sha256: string }> {
  const image = await makeImage(w.dir, w.publisher, fields);
  return { manifest: image.manifest, imagePath: image.imagePath, rollout: 'active', imageReady: true, sha256: image.sha256 };
}

const sha256File = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');
const current = (w: World): Promise<string | undefined> => readlink(join(w.data, 'slots', 'current')).catch(() => undefined);
const downloads = (w: World): Promise<string[]> => readdir(join(w.data, 'downloads'));

/** Waits (bounded) until the agent has taken the update in: its "update accepted" line. */
const accepted = (w: World, updateId: string): Promise<void> =>
  w.gateway.waitFor(() => w.logs.some((entry) => entry.msg === 'update accepted' && entry.update_id === updateId), `${updateId} accepted`);

/** The waits (ms) the agent announced in its log lines `msg` (their retry_in_s), in order,
 * for `updateId` if given. Each line is written just before the agent arms that wait on its
 * clock, so a test advances by exactly the wait the agent took, never by another of its
 * timers that happens to have the same length (a dedup expiry, a status back-off). */
const announcedWaits = (w: World, messages: readonly string[], updateId?: string): number[] => w.logs
  .filter((entry) => messages.includes(entry.msg as string) && (updateId === undefined || entry.update_id === updateId))
  .map((entry) => Number(entry.retry_in_s) * 1000);
const INSTALL_WAITS = ['install not permitted yet', 'install request failed'];
const DECLINED = ['the gateway declined to register this observer of /updates; asking for it with plain GETs meanwhile'];

/** Installs 2.0.0 into slot a: the "old version" of the roll-back tests. */
async function installFirst(w: World): Promise<void> {
  const first = await offer(w, { updateId: 'u2', version: '2.0.0', size: 40_000 });
  w.gateway.setUpdates([first]);
  assert.is((await w.gateway.outcome('u2')).state, 'installed');
  assert.is(await current(w), 'a');
}

test('refused before download: a bad signature, another node\'s target and an older version are reported failed, nothing downloaded, never retried', async () => {
  const w = await world();
  try {
    const stranger = await makePublisher(w.dir, 'stranger');
    const badSignature = await makeImage(w.dir, stranger, { updateId: 'u-sig', version: '3.0.0', size: 4096 });
    const otherTarget = await offer(w, { updateId: 'u-target', version: '3.0.0', size: 4096, targets: ['n2', 'n3'] });
    const older = await offer(w, { updateId: 'u-old', version: '1.5.0', size: 4096 });
    const malformed: Offered = { manifest: { update_id: 'u-bad', version: 'x' }, rollout: 'active', imageReady: true, imagePath: older.imagePath };
    w.running = await startAgent(w, { initial_version: '2.0.0' });
    w.gateway.setUpdates([
      { manifest: badSignature.manifest, imagePath: badSignature.imagePath, rollout: 'active', imageReady: true }, otherTarget, older, malformed,
    ]);
    const reasons = {
      'u-sig': 'refused: bad signature',
      'u-target': 'refused: node n1 is not among the signed targets',
      'u-old': 'refused: version 1.5.0 is not newer than the installed 2.0.0',
      'u-bad': 'refused: malformed manifest',
    };
    for (const [id, reason] of Object.entries(reasons)) {
      const outcome = await w.gateway.outcome(id);
      assert.is(outcome.state, 'failed', id);
      assert.ok(outcome.error?.startsWith(reason), `${id}: ${outcome.error}`);
      assert.equal(w.gateway.statesOf(id), ['failed'], `${id} reported once`);
    }
    assert.is(w.gateway.served.size, 0, 'no block was asked for');
    assert.equal(await downloads(w), []);

    // Offered again, and after a restart: terminal on this node, never taken up again.
    // (Settled first: each outcome's acknowledgement is recorded before the stop.)
    await w.running.agent.settled();
    await w.running.agent.stop();
    w.running = await startAgent(w, { initial_version: '2.0.0' });
    const registrations = w.gateway.registrations.length;
    await w.gateway.waitFor(() => w.gateway.registrations.length > registrations, 'the registration after the restart');
    // Listed last, a new refusal shows when the representation has been taken in whole.
    const marker = await offer(w, { updateId: 'u-marker', version: '3.0.0', size: 4096, targets: ['n2'] });
    w.gateway.setUpdates([otherTarget, older, marker]);
    assert.is((await w.gateway.outcome('u-marker')).state, 'failed');
    await w.running.agent.settled();
    for (const id of Object.keys(reasons)) assert.equal(w.gateway.statesOf(id), ['failed'], `${id} not reported again`);
    assert.is(w.gateway.served.size, 0);
  } finally {
    await w.cleanup();
  }
});

test('a full update: observe, download 1 MiB block-wise, install into slot a, health check, installed; current points to the new slot; the next one goes to b', async () => {
  const w = await world();
  try {
    w.running = await startAgent(w);
    await w.gateway.waitFor(() => w.gateway.registrations.length > 0, 'a registration');
    assert.equal(w.gateway.registrations[0]!.body.version, '1.0.0');
    const update = await offer(w, { updateId: 'u2', version: '2.0.0', size: 1024 * 1024 });
    w.gateway.setUpdates([update]);
    const outcome = await w.gateway.outcome('u2');
    assert.equal(outcome, { state: 'installed', progress: 1, error: null });
    const states = w.gateway.statesOf('u2');
    assert.is(states[0], 'downloading');
    assert.equal(states.slice(-3), ['downloaded', 'installing', 'installed']);
    // Progress at most every 10 % (or 2 s): a dozen reports, not one per block.
    const progress = (w.gateway.statuses.get('u2') ?? []).filter((status) => status.state === 'downloading');
    assert.ok(progress.length >= 2 && progress.length <= 14, `${progress.length} progress reports`);
    // Q-Block2 (the default) sends bursts in order; a block the agent missed within its
    // wait (a busy machine's pause looks like loss) is sent again, so count first sendings.
    const served = w.gateway.served.get('u2') ?? [];
    const firstSent = served.filter((num, at) => served.indexOf(num) === at);
    assert.equal(firstSent, Array.from({ length: 1024 }, (_, i) => i), 'every block, first sent in order');

    assert.is(await current(w), 'a');
    assert.is(await sha256File(join(w.data, 'slots', 'current', 'image.bin')), update.sha256);
    assert.is((await readFile(join(w.data, 'slots', 'a', 'version'), 'utf8')).trim(), '2.0.0');
    assert.is(w.running.agent.installedVersion(), '2.0.0');
    assert.equal(await downloads(w), [], 'the download is gone once installed');
    await w.gateway.waitFor(() => w.gateway.registrations.at(-1)!.body.version === '2.0.0', 'a registration with the new version');

    const next = await offer(w, { updateId: 'u3', version: '3.0.0', size: 10_000 });
    w.gateway.setUpdates([update, next]);
    assert.is((await w.gateway.outcome('u3')).state, 'installed');
    assert.is(await current(w), 'b');
    assert.is(w.running.agent.installedVersion(), '3.0.0');
    assert.equal(w.gateway.statesOf('u2').filter((state) => state === 'installed').length, 1, 'u2 not reported again');

    // Registration reports the committed slot's version.
    await w.running.agent.stop();
    const before = w.gateway.registrations.length;
    w.running = await startAgent(w);
    await w.gateway.waitFor(() => w.gateway.registrations.length > before, 'a registration after the restart');
    assert.is(w.gateway.registrations.at(-1)!.body.version, '3.0.0');
  } finally {
    await w.cleanup();
  }
});

test('an image altered on the gateway: sha256 mismatch, failed, partial file removed, the old slot kept', async () => {
  const w = await world();
  try {
    w.running = await startAgent(w);
    await installFirst(w);
    const altered = await offer(w, { updateId: 'u3', version: '3.0.0', size: 50_000 });
    const bytes = await readFile(altered.imagePath);
    bytes[12_345] ^= 0xff;
    await writeFile(altered.imagePath, bytes);
    w.gateway.setUpdates([altered]);
    const outcome = await w.gateway.outcome('u3');
    assert.equal(outcome, { state: 'failed', progress: 1, error: 'sha256 mismatch' });
    assert.equal(await downloads(w), []);
    assert.is(await current(w), 'a');
    assert.is(w.running.agent.installedVersion(), '2.0.0');
    assert.not.ok(w.gateway.installAsks.has('u3'), 'never asked to install');
  } finally {
    await w.cleanup();
  }
});

test('an install hook that fails: rolled_back with its reason, current back to the old slot; the hook saw IMAGE_PATH, VERSION, UPDATE_ID', async () => {
  const w = await world();
  try {
    const hookLog = join(w.dir, 'hook.log');
    w.expectedWarnings.push(/new version failed: rolling back/);
    w.running = await startAgent(w, {
      install_adapter: 'command',
      install_command: `echo "$UPDATE_ID $VERSION $IMAGE_PATH" >> '${hookLog}'; if [ "$VERSION" = 3.0.0 ]; then echo boom >&2; exit 4; fi`,
      rollback_command: `echo "rollback to $VERSION from $FAILED_VERSION" >> '${hookLog}'`,
    });
    await installFirst(w);
    const failing = await offer(w, { updateId: 'u3', version: '3.0.0', size: 20_000 });
    w.gateway.setUpdates([failing]);
    const outcome = await w.gateway.outcome('u3');
    assert.is(outcome.state, 'rolled_back');
    assert.is(outcome.error, 'install command exited 4: boom');
    assert.is(await current(w), 'a');
    assert.is(w.running.agent.installedVersion(), '2.0.0');
    const lines = (await readFile(hookLog, 'utf8')).trim().split('\n');
    assert.equal(lines, [
      `u2 2.0.0 ${join(w.data, 'slots', 'a', 'image.bin')}`,
      `u3 3.0.0 ${join(w.data, 'slots', 'b', 'image.bin')}`,
      'rollback to 2.0.0 from 3.0.0',
    ]);
  } finally {
    await w.cleanup();
  }
});

test('a new version that fails its health check: rolled_back, current back to the old slot', async () => {
  const w = await world();
  try {
    w.expectedWarnings.push(/new version failed: rolling back/);
    w.running = await startAgent(w, {
      health_check_command: 'test "$(cat "$CURRENT_PATH/version")" != 3.0.0 || { echo "service did not come up"; exit 1; }',
      health_check_timeout_s: '5',
    });
    await installFirst(w);
    w.gateway.setUpdates([await offer(w, { updateId: 'u3', version: '3.0.0', size: 20_000 })]);
    const outcome = await w.gateway.outcome('u3');
    assert.is(outcome.state, 'rolled_back');
    assert.is(outcome.error, 'health check exited 1: service did not come up');
    assert.is(await current(w), 'a');
    assert.is(w.running.agent.installedVersion(), '2.0.0');
  } finally {
    await w.cleanup();
  }
});

test('a health check over its time limit fails the install; the first install rolled back leaves no current slot', async () => {
  const w = await world();
  try {
    w.expectedWarnings.push(/new version failed: rolling back/);
    w.running = await startAgent(w, { health_check_command: 'sleep 5', health_check_timeout_s: '0.3' });
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 5000 })]);
    const outcome = await w.gateway.outcome('u2');
    assert.equal(outcome, { state: 'rolled_back', progress: 1, error: 'health check timed out after 0.3 s' });
    assert.is(await current(w), undefined);
    assert.is(w.running.agent.installedVersion(), '1.0.0');
  } finally {
    await w.cleanup();
  }
});

test('an install hook that daemonises for good ("setsid sleep 60", 1 s limit) is rolled back as timed out within a bounded time', async () => {
  const w = await world();
  const marker = processMarker();
  try {
    w.expectedWarnings.push(/new version failed: rolling back/);
    w.running = await startAgent(w, {
      install_adapter: 'command', install_command: `${marker.assignment} setsid sleep 60`, install_timeout_s: '1',
    });
    const started = Date.now();
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 5000 })]);
    const outcome = await w.gateway.outcome('u2', 15_000);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    assert.equal(outcome, { state: 'rolled_back', progress: 1, error: 'install command timed out after 1 s' });
    assert.is(w.running.agent.installedVersion(), '1.0.0');
  } finally {
    await killMarked(marker.value);
    await w.cleanup();
  }
});

test('a health check that starts a daemon and exits 0 ("sleep 30 & exit 0") has passed: installed at once', async () => {
  const w = await world();
  const marker = processMarker();
  try {
    w.running = await startAgent(w, { health_check_command: `${marker.assignment} sleep 30 & exit 0`, health_check_timeout_s: '10' });
    const started = Date.now();
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 5000 })]);
    const outcome = await w.gateway.outcome('u2', 9000);
    assert.equal(outcome, { state: 'installed', progress: 1, error: null });
    assert.ok(Date.now() - started < 9000, `took ${Date.now() - started} ms`);
  } finally {
    await killMarked(marker.value);
    await w.cleanup();
  }
});

test('a slot directory that became unwritable: the install fails naming the directory and the errno', async () => {
  const w = await world();
  try {
    w.running = await startAgent(w);
    await w.gateway.waitFor(() => w.gateway.registrations.length > 0, 'a registration');
    // As root, mode bits stop nothing: the slots path now leads through a regular file,
    // which fails for anyone (ENOTDIR), as a read-only mount would (EROFS).
    await rename(join(w.data, 'slots'), join(w.data, 'slots-before'));
    await writeFile(join(w.dir, 'plain-file'), '');
    await symlink(join(w.dir, 'plain-file', 'slots'), join(w.data, 'slots'));
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 5000 })]);
    const outcome = await w.gateway.outcome('u2');
    assert.equal(outcome, {
      state: 'failed', progress: 1, error: `install failed: cannot write slot a: slot directory ${join(w.data, 'slots')} is not writable (ENOTDIR)`,
    });
    assert.is(w.running.agent.installedVersion(), '1.0.0');
  } finally {
    await w.cleanup();
  }
});

test('a gateway that declines the /updates registration (RFC 7641 §4.1) is asked again only after the jittered back-off of the agent\'s clock; once it accepts, the agent registers', async () => {
  const w = await world();
  const clock = new ArmedClock();
  try {
    w.expectedWarnings.push(/the gateway declined to register this observer of \/updates/);
    const declining = declineObservers(w.gateway.endpoint, () => clock.now());
    // register_interval_s far off, so the only long timer armed is the back-off.
    w.running = await startAgent(w, { register_interval_s: '3600' }, { clock, random: new SeededRandom(5) });
    for (let attempt = 1; attempt <= 4; attempt++) {
      await w.gateway.waitFor(() => declining.registrations.length === attempt, `registration attempt ${attempt}`);
      await w.gateway.waitFor(() => announcedWaits(w, DECLINED).length === attempt, `the back-off after attempt ${attempt}`);
      const delay = announcedWaits(w, DECLINED)[attempt - 1]!;
      assert.ok(delay >= DECLINED_BASE_MS && delay <= DECLINED_CAP_MS, `back-off ${delay} ms`);
      // The old loop came back about once a second: the agent waits, asking nothing more.
      assert.is(declining.registrations.length, attempt, 'no attempt while the back-off is armed');
      if (attempt === 4) declining.accept();
      clock.advance(delay);
    }
    const gaps = declining.registrations.slice(1).map((at, i) => at - declining.registrations[i]!);
    assert.ok(gaps.every((gap) => gap >= DECLINED_BASE_MS), `gaps ${gaps.join(', ')} ms`);
    await w.gateway.waitFor(() => declining.registrations.length === 5, 'the registration once accepted');
    await w.gateway.waitFor(() => w.logs.some((entry) => entry.msg === 'the gateway registered this observer of /updates again'), 'the log line');
  } finally {
    await w.cleanup();
  }
});

test('an install committed while a registration is on its way: the agent registers the new version at once, not at the next period', async () => {
  const w = await world();
  const clock = new ArmedClock();
  try {
    // A period far off on the agent's clock: only a registration the agent makes itself
    // can tell the gateway the new version within this test.
    w.running = await startAgent(w, { register_interval_s: '3600' }, { clock });
    await w.gateway.waitFor(() => w.gateway.registrations.length > 0, 'the first registration');
    // The periodic registration, made to arrive while the update installs, is held back
    // until the install is committed (as 20 % loss can hold one for a minute).
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let holding = false;
    w.gateway.beforeRegistration = (registration) => {
      if (registration.version !== '1.0.0' || holding) return;
      holding = true;
      return held;
    };
    clock.advance(await clock.armed((ms) => ms === 3_600_000, 'the periodic registration timer'));
    await w.gateway.waitFor(() => holding, 'the periodic registration on its way');
    const update = await offer(w, { updateId: 'u2', version: '2.0.0', size: 4096 });
    w.gateway.setUpdates([update]);
    assert.is((await w.gateway.outcome('u2')).state, 'installed');
    await w.gateway.waitFor(() => w.logs.some((entry) => entry.msg === 'installing -> installed'), 'the install committed');
    release();
    await w.gateway.waitFor(() => w.gateway.registrations.at(-1)?.body.version === '2.0.0', 'a registration with 2.0.0 right after the held one');
    assert.equal(w.gateway.registrations.map((entry) => entry.body.version), ['1.0.0', '1.0.0', '2.0.0']);
  } finally {
    await w.cleanup();
  }
});

test('5.03 with Max-Age: the agent waits Max-Age of its clock before asking again, then installs', async () => {
  const w = await world();
  const clock = new ArmedClock();
  try {
    w.gateway.installAnswers.set('u2', [
      { code: ResponseCode.ServiceUnavailable, maxAge: 90, diagnostic: '2 installing, at most 2' },
      { code: ResponseCode.ServiceUnavailable, maxAge: 90 },
    ]);
    w.running = await startAgent(w, { register_interval_s: '3600' }, { clock });
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 8000 })]);
    for (let ask = 1; ask <= 2; ask++) {
      await w.gateway.waitFor(() => w.gateway.installAsks.get('u2')?.length === ask, `install request ${ask}`);
      await w.gateway.waitFor(() => announcedWaits(w, INSTALL_WAITS, 'u2').length === ask, `the wait after request ${ask}`);
      assert.is(announcedWaits(w, INSTALL_WAITS, 'u2')[ask - 1], 90_000, 'Max-Age');
      assert.is(w.gateway.installAsks.get('u2')!.length, ask, 'not asked again while waiting');
      clock.advance(90_000);
    }
    assert.is((await w.gateway.outcome('u2')).state, 'installed');
    assert.is(w.gateway.installAsks.get('u2')!.length, 3);
    assert.equal(w.gateway.statesOf('u2').slice(-3), ['downloaded', 'installing', 'installed']);
  } finally {
    await w.cleanup();
  }
});

test('a 5.03 reaching past install_max_wait_s (a maintenance window days away) is waited out; failing requests give up after it', async () => {
  const w = await world();
  const clock = new ArmedClock();
  const threeDaysS = 3 * 86_400;
  try {
    w.gateway.installAnswers.set('u2', [{ code: ResponseCode.ServiceUnavailable, maxAge: threeDaysS, diagnostic: 'outside the maintenance window' }]);
    w.gateway.installAnswers.set('u3', Array.from({ length: 20 }, () => ({ code: ResponseCode.InternalServerError, diagnostic: 'store unavailable' })));
    w.running = await startAgent(w, { register_interval_s: '3600', install_max_wait_s: '60' }, { clock });
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 8000 })]);
    await w.gateway.waitFor(() => w.gateway.installAsks.get('u2')?.length === 1, 'the install request');
    await w.gateway.waitFor(() => announcedWaits(w, INSTALL_WAITS, 'u2').length === 1, 'the wait after the 5.03');
    assert.equal(announcedWaits(w, INSTALL_WAITS, 'u2'), [threeDaysS * 1000], 'the three-day Max-Age wait');
    clock.advance(threeDaysS * 1000);
    assert.is((await w.gateway.outcome('u2')).state, 'installed', 'installed once the window opened, not given up');
    assert.is(w.gateway.installAsks.get('u2')!.length, 2);

    w.gateway.setUpdates([await offer(w, { updateId: 'u3', version: '3.0.0', size: 8000 })]);
    // 5.00s back off 2, 5, 10, 30 s; the next wait would end past 60 s from the first failure.
    for (const [ask, ms] of [[1, 2000], [2, 5000], [3, 10_000], [4, 30_000]] as const) {
      await w.gateway.waitFor(() => w.gateway.installAsks.get('u3')?.length === ask, `install request ${ask}`);
      await w.gateway.waitFor(() => announcedWaits(w, INSTALL_WAITS, 'u3').length === ask, `the back-off after request ${ask}`);
      assert.is(announcedWaits(w, INSTALL_WAITS, 'u3')[ask - 1], ms, `the back-off after request ${ask}`);
      clock.advance(ms);
    }
    const outcome = await w.gateway.outcome('u3');
    assert.is(outcome.state, 'failed');
    assert.match(outcome.error ?? '', /install requests failing for 60 s \(last: .*store unavailable/);
    assert.is(w.gateway.installAsks.get('u3')!.length, 5);
  } finally {
    await w.cleanup();
  }
});

test('4.03 to the install request: failed with the gateway\'s reason, nothing switched', async () => {
  const w = await world();
  try {
    w.gateway.installAnswers.set('u2', [{ code: ResponseCode.Forbidden, diagnostic: 'rollout cancelled' }]);
    w.running = await startAgent(w);
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 8000 })]);
    assert.equal(await w.gateway.outcome('u2'), { state: 'failed', progress: 1, error: 'install refused: rollout cancelled' });
    assert.is(w.gateway.installAsks.get('u2')!.length, 1);
    assert.is(await current(w), undefined);
    assert.equal(await downloads(w), []);
  } finally {
    await w.cleanup();
  }
});

test('a rollout cancelled mid-download ends the download as failed and removes the partial file', async () => {
  const w = await world();
  try {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    w.gateway.beforeBlock = (_id, num) => (num === 20 ? held : undefined);
    w.running = await startAgent(w);
    w.gateway.setUpdates([await offer(w, { updateId: 'u2', version: '2.0.0', size: 100_000 })]);
    await w.gateway.waitFor(() => (w.gateway.served.get('u2') ?? []).includes(20), 'block 20 asked for');
    w.gateway.changeUpdate('u2', { rollout: 'cancelled' });
    const outcome = await w.gateway.outcome('u2');
    assert.is(outcome.state, 'failed');
    assert.is(outcome.error, 'rollout cancelled');
    release();
    assert.equal(await downloads(w), []);
    assert.not.ok(w.gateway.installAsks.has('u2'));
  } finally {
    await w.cleanup();
  }
});

test('an image not ready yet is not asked for until image_ready; then it installs', async () => {
  const w = await world();
  try {
    w.running = await startAgent(w);
    const update = await offer(w, { updateId: 'u2', version: '2.0.0', size: 8000 });
    w.gateway.setUpdates([{ ...update, imageReady: false }]);
    await accepted(w, 'u2');
    await w.running.agent.settled();
    assert.is(w.gateway.served.size, 0);
    assert.equal(w.gateway.statesOf('u2'), [], 'accepted, still pending');
    w.gateway.changeUpdate('u2', { imageReady: true });
    assert.is((await w.gateway.outcome('u2')).state, 'installed');
  } finally {
    await w.cleanup();
  }
});

test('an update still pending when the gateway stops listing it (withdrawn before its image was ready) ends failed, reported', async () => {
  const w = await world();
  try {
    w.running = await startAgent(w);
    const update = await offer(w, { updateId: 'u2', version: '2.0.0', size: 8000 });
    w.gateway.setUpdates([{ ...update, imageReady: false }]);
    await accepted(w, 'u2');
    w.gateway.setUpdates([]);
    const outcome = await w.gateway.outcome('u2');
    assert.is(outcome.state, 'failed');
    assert.is(outcome.error, 'rollout withdrawn');
    assert.is(w.gateway.served.size, 0, 'nothing downloaded');
  } finally {
    await w.cleanup();
  }
});

test('health is pushed every health_interval_s of the agent\'s clock: five 45 s periods of a virtual clock, five PUTs, none early', async () => {
  const w = await world();
  const clock = new ArmedClock();
  try {
    // On the real clock this would take nearly four minutes.
    w.running = await startAgent(w, { health_interval_s: '45', register_interval_s: '3600' }, { clock });
    await w.gateway.waitFor(() => w.gateway.registrations.length > 0, 'a registration');
    for (let push = 1; push <= 5; push++) {
      // Armed again only once the previous PUT was answered.
      await clock.armed((ms) => ms === 45_000, `the health timer before push ${push}`);
      assert.is(w.gateway.health.length, push - 1, 'no push before its period is over');
      clock.advance(45_000);
      await w.gateway.waitFor(() => w.gateway.health.length === push, `health push ${push}`);
    }
    assert.is(clock.now(), 5 * 45_000);
  } finally {
    await w.cleanup();
  }
});

test('health is reported with real figures, and the agent registers again when a restarted gateway no longer knows it', async () => {
  const w = await world();
  try {
    w.running = await startAgent(w, { health_interval_s: '0.2' });
    await w.gateway.waitFor(() => w.gateway.health.length >= 2, 'two health reports');
    const report = w.gateway.health.at(-1)!;
    assert.ok(['healthy', 'degraded', 'unhealthy'].includes(report.status));
    assert.ok(report.cpu_percent >= 0 && report.cpu_percent <= 100);
    assert.ok(report.memory_percent > 0 && report.memory_percent <= 100);
    assert.ok(report.temperature === null || (report.temperature > -100 && report.temperature < 250));
    assert.ok(report.uptime_s > 0);
    assert.ok(Math.abs(Date.parse(report.timestamp) - Date.now()) < 5000);

    // The gateway comes back on the same port without its state.
    w.expectedWarnings.push(/registration failed|observing \/updates failed/);
    const port = w.gateway.endpoint.address().port;
    await w.gateway.close();
    const restarted = await FakeGateway.start(port);
    restarted.requireRegistration = true;
    w.gateway = restarted;
    await restarted.waitFor(() => restarted.registrations.length > 0, 'a registration with the restarted gateway');
    assert.equal(restarted.registrations[0]!.body.node_id, 'n1');
    await restarted.waitFor(() => restarted.health.length > 0, 'health accepted again');
  } finally {
    await w.cleanup();
  }
});

test('a slot in use with nothing committed (laid down at the factory) is adopted: its version is registered and protected from rollback', async () => {
  const w = await world();
  try {
    await mkdir(join(w.data, 'slots', 'b'), { recursive: true });
    await writeFile(join(w.data, 'slots', 'b', 'image.bin'), 'factory image');
    await writeFile(join(w.data, 'slots', 'b', 'version'), '1.4.0\n');
    await symlink('b', join(w.data, 'slots', 'current'));
    w.running = await startAgent(w);
    await w.gateway.waitFor(() => w.gateway.registrations.length > 0, 'a registration');
    assert.is(w.gateway.registrations[0]!.body.version, '1.4.0');
    w.gateway.setUpdates([await offer(w, { updateId: 'u13', version: '1.3.0', size: 1000 }), await offer(w, { updateId: 'u2', version: '2.0.0', size: 1000 })]);
    assert.is((await w.gateway.outcome('u13')).error, 'refused: version 1.3.0 is not newer than the installed 1.4.0');
    assert.is((await w.gateway.outcome('u2')).state, 'installed');
    assert.is(await current(w), 'a', 'the new version goes to the other slot');
  } finally {
    await w.cleanup();
  }
});

test('over coaps:// with a PSK: registers under its DTLS identity, downloads and installs', async () => {
  const temp = await tempDir('coap-fleet-agent-dtls-');
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const gateway = await FakeGateway.start(0, new Map([['node:n1', key]]));
  const logs: Record<string, unknown>[] = [];
  let running: RunningAgent | undefined;
  try {
    const publisher = await makePublisher(temp.path);
    const keyFile = join(temp.path, 'node-n1.json');
    await writeFile(keyFile, JSON.stringify({ identity: 'node:n1', key_hex: key.toString('hex') }));
    running = await startWith(join(temp.path, 'data'), gateway, publisher, { psk_key_file: keyFile }, logs);
    await gateway.waitFor(() => gateway.registrations.length > 0, 'a registration over DTLS');
    assert.is(gateway.registrations[0]!.identity, 'node:n1');
    const image = await makeImage(temp.path, publisher, { updateId: 'u2', version: '2.0.0', size: 30_000 });
    gateway.setUpdates([{ manifest: image.manifest, imagePath: image.imagePath, rollout: 'active', imageReady: true }]);
    assert.is((await gateway.outcome('u2')).state, 'installed');
    assert.is(await readlink(join(temp.path, 'data', 'slots', 'current')), 'a');
  } finally {
    await running?.agent.stop();
    await gateway.close();
    await temp.remove();
  }
  assert.equal(unexpectedWarnings(logs, []), []);
});

test.run();
