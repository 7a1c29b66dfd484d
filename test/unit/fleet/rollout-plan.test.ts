// The rollout plan of policy format 2 (src/fleet/rollout-plan.ts, rollout.ts, manifest.ts):
// waves open in order only after the wave before has ended and baked, on a clock given in;
// a per-wave threshold aborts; a node outside its window is told to come back when it
// opens; the plan is signed, and manifests without it verify as before; tags merge.

import { generateKeyPairSync } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_POLICY, parseManifest, signManifest, verifyManifest, type Manifest, type UnsignedManifest, type UpdatePolicy } from '../../../src/fleet/manifest.js';
import { parseWindow, type MaintenanceWindow } from '../../../src/fleet/maintenance-window.js';
import { mergeTags } from '../../../src/fleet/node-tags.js';
import { decideInstall, rolloutState } from '../../../src/fleet/rollout.js';
import { waveEnds, waveProgress, windowFor } from '../../../src/fleet/rollout-plan.js';
import type { NodeUpdateState, NodeUpdateStatus } from '../../../src/fleet/update-state.js';

const T0 = Date.UTC(2026, 11, 7, 12);
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const status = (state: NodeUpdateState, seconds = 0): NodeUpdateStatus => ({ state, progress: 0, error: null, updated_at: at(seconds) });
const targets = Array.from({ length: 10 }, (_, index) => `n${index}`);
const statusMap = (states: readonly NodeUpdateStatus[]): Map<string, NodeUpdateStatus> => new Map(targets.map((id, index) => [id, states[index]!]));
const policy: UpdatePolicy = { ...DEFAULT_POLICY, max_parallel_installs: 10, waves: ['1', '30%', '100%'], bake_s: 60, wave_failure_threshold: 1, failure_threshold: 5 };

test('wave sizes are cumulative: counts and shares of the targets, empty waves dropped, the rest a last wave', () => {
  assert.equal(waveEnds(['1', '10%', '50%', '100%'], 40), [1, 4, 20, 40]);
  assert.equal(waveEnds(['1', '10%', '50%', '100%'], 4), [1, 2, 4]);
  assert.equal(waveEnds(['2', '5'], 10), [2, 5, 10]);
  assert.equal(waveEnds(undefined, 3), [3]);
});

test('the next wave opens only once every target of the one before is final and the bake time has passed', () => {
  const go = (states: NodeUpdateStatus[], node: string, seconds: number) =>
    decideInstall('active', policy, targets, statusMap(states), node, { now: T0 + seconds * 1000 });
  const pending = targets.map(() => status('pending'));
  assert.ok(go(pending, 'n0', 0).go, 'wave 1 opens at once');
  const second = go(pending, 'n1', 0);
  assert.ok(!second.go && second.retryAfterSeconds === 10 && /wave 1 installing/.test(second.reason), JSON.stringify(second));
  const installed = [status('installed', 100), ...pending.slice(1)];
  const baking = go(installed, 'n1', 130);
  assert.ok(!baking.go && baking.retryAfterSeconds === 30 && /baking/.test(baking.reason), JSON.stringify(baking));
  assert.ok(go(installed, 'n1', 160).go, 'wave 2 opens when the bake is over');
  assert.not.ok(go(installed, 'n3', 160).go, 'wave 3 still waits');
  const view = waveProgress(policy, installed, T0 + 130_000);
  assert.equal(view.waves.map((wave) => wave.state), ['baking', 'waiting', 'waiting']);
  assert.is(view.waves[0]!.bake_until, at(160));
  assert.equal(waveProgress(policy, installed, T0 + 160_000).waves.map((wave) => [wave.state, wave.targets]), [['done', 1], ['open', 2], ['waiting', 7]]);
});

test('a wave reaching its own failure threshold aborts the rollout, below the overall one', () => {
  const states = [status('installed'), status('failed'), ...targets.slice(2).map(() => status('pending'))];
  assert.is(rolloutState('active', policy, states), 'aborted');
  assert.is(rolloutState('active', { ...policy, wave_failure_threshold: 2 }, states), 'active');
  assert.is(rolloutState('active', { ...DEFAULT_POLICY, failure_threshold: 5 }, states), 'active', 'no waves: the overall threshold only');
});

test('outside its window a node is told to come back when the window opens; a group window comes before the plan\'s', () => {
  const plan: UpdatePolicy = { ...DEFAULT_POLICY, max_parallel_installs: 10, window: 'daily 02:00-05:00 UTC', group_windows: { lisbon: 'daily 13:00-14:00 UTC' } };
  const pending = statusMap(targets.map(() => status('pending')));
  const ask = (window: MaintenanceWindow | undefined, seconds: number) => decideInstall('active', plan, targets, pending, 'n0', { now: T0 + seconds * 1000, window });
  const outside = ask(windowFor(plan, []), 0);
  assert.ok(!outside.go && outside.retryAfterSeconds === 14 * 3600 && /maintenance window/.test(outside.reason), JSON.stringify(outside));
  assert.ok(ask(windowFor(plan, []), 14 * 3600).go, 'inside at 02:00');
  assert.ok(ask(windowFor(plan, ['a', 'lisbon']), 3600).go, 'the lisbon group is inside at 13:00');
  assert.ok(ask(undefined, 0).go, 'no window: any time');
  assert.ok(!('problem' in parseWindow(plan.window!)));
});

const keys = generateKeyPairSync('ed25519');
const base: UnsignedManifest = {
  update_id: 'fw-3.0.0', version: '3.0.0', size: 10, checksum: `sha256:${'cd'.repeat(32)}`, target_nodes: targets, policy: DEFAULT_POLICY,
};

test('the plan is signed in policy format 2: changing it, or stripping policy_version, breaks the signature; old formats verify as before', () => {
  const signed = signManifest({ ...base, policy: policy, policy_version: 2 }, keys.privateKey);
  assert.ok(verifyManifest(signed, keys.publicKey));
  const reparsed = parseManifest(JSON.parse(JSON.stringify(signed)));
  assert.ok('manifest' in reparsed && verifyManifest(reparsed.manifest, keys.publicKey), 'survives JSON');
  for (const tampered of [
    { ...signed, policy: { ...policy, bake_s: 1 } }, { ...signed, policy: { ...policy, waves: ['100%'] } },
    { ...signed, policy: { ...policy, window: 'daily 00:00-24:00 UTC' } }, { ...signed, policy: { ...policy, wave_failure_threshold: 9 } },
  ] as Manifest[]) assert.not.ok(verifyManifest(tampered, keys.publicKey), JSON.stringify(tampered.policy));
  const { policy_version: _dropped, ...stripped } = signed;
  assert.not.ok(verifyManifest(stripped as Manifest, keys.publicKey), 'stripped of policy_version');
  assert.ok('problems' in parseManifest(stripped), 'plan fields need policy_version 2');
  // Format 1 and 2 manifests sign what they always did: the unsigned policy may change.
  const old = signManifest(base, keys.privateKey);
  assert.ok(verifyManifest({ ...old, policy: { ...DEFAULT_POLICY, max_parallel_installs: 9 } }, keys.publicKey));
  const parsedOld = parseManifest(JSON.parse(JSON.stringify(old)));
  assert.ok('manifest' in parsedOld && verifyManifest(parsedOld.manifest, keys.publicKey) && parsedOld.manifest.policy_version === undefined);
});

test('bad plans are refused field by field', () => {
  const problems = (plan: Record<string, unknown>): string[] => {
    const parsed = parseManifest({ ...signManifest(base, keys.privateKey), policy_version: 2, policy: plan });
    return 'problems' in parsed ? parsed.problems : [];
  };
  assert.ok(problems({ waves: ['0'] }).some((text) => text.startsWith('policy.waves')));
  assert.ok(problems({ waves: ['101%'] }).some((text) => text.startsWith('policy.waves')));
  assert.ok(problems({ bake_s: -1 }).some((text) => text.startsWith('policy.bake_s')));
  assert.ok(problems({ window: 'Mon 02:00-03:00 Nowhere/Else' }).some((text) => text.startsWith('policy.window')));
  assert.ok(problems({ group_windows: { 'bad tag': 'daily 01:00-02:00 UTC' } }).some((text) => text.startsWith('policy.group_windows')));
  assert.equal(problems({ waves: ['1', '50%'], bake_s: 600, window: 'Mon-Fri 02:00-05:00 Europe/Berlin' }), []);
});

test('tags: a registration with the same own tags keeps an operator\'s edit; a changed list replaces the old own tags', () => {
  assert.equal(mergeTags(['berlin', 'lab'], ['berlin'], ['berlin']), ['berlin', 'lab']);
  assert.equal(mergeTags(['lab'], ['berlin'], ['berlin']), ['lab'], 'the operator removed berlin: it stays removed');
  assert.equal(mergeTags(['berlin', 'lab'], ['berlin'], ['munich']), ['lab', 'munich']);
  assert.equal(mergeTags([], [], ['b', 'a', 'a']), ['a', 'b']);
});

test.run();
