// The dry run's judgement of each target (src/operator/dry-run.ts, pure): unknown, offline
// and unreachable nodes, the agent's own problems (room, slots, an install in flight), a
// version at or past the one published, and the link the gateway measured: a warning when
// poor or slow, a failure only when the download could not finish in a week.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LinkQuality } from '../../../src/fleet/link-quality.js';
import type { ReadinessView } from '../../../src/fleet/update-readiness.js';
import type { NodeView, UpdateDetail } from '../../../src/fleet/views.js';
import { estimateDownloadS, judgeDryRun, judgeTarget, type TargetProbe } from '../../../src/operator/dry-run.js';

/** Monday 2026-12-07 00:10 UTC. */
const NOW = Date.UTC(2026, 11, 7, 0, 10);
const REQUEST = { updateId: 'fw-2.0.0', version: '2.0.0', imageBytes: 1024 * 1024, now: NOW };

const NODE: NodeView = {
  node_id: 'n1', version: '1.0.0', hardware: 'test', agent_port: 5000, registered_at: '2026-12-07T00:00:00.000Z',
  last_seen: '2026-12-07T00:10:00.000Z', online: true, health: null, link: null, tags: [],
};

const READY: ReadinessView = {
  node_id: 'n1', version: '1.0.0', install_system: 'slots',
  space: { free_bytes: 1e9, reserved_bytes: 0, usable_bytes: 1e9, image_bytes: REQUEST.imageBytes, needed_bytes: 2 * REQUEST.imageBytes },
  slots: { committed: 'a', current: 'a', install: null, system: null },
  problems: [],
};

const LINK: LinkQuality = { block_size: 1024, window: 8, rtt_ms: 20, loss: 0, measured_at: '2026-12-07T00:05:00.000Z', gateway_rtt_ms: 15 };

const probe = (changes: Partial<TargetProbe> = {}): TargetProbe => ({ nodeId: 'n1', node: NODE, readiness: READY, ...changes });

test('a ready, online node on a good link passes, with its figures', () => {
  const verdict = judgeTarget(probe({ node: { ...NODE, link: LINK } }), REQUEST, null);
  assert.equal(verdict, {
    node_id: 'n1', pass: true, failures: [], warnings: [], online: true, version: '1.0.0', install_system: 'slots',
    usable_bytes: 1e9, needed_bytes: 2 * REQUEST.imageBytes, estimated_download_s: 2.6, wave: null, window_opens_at: null,
  });
});

test('unknown, offline and unreachable nodes fail; an agent without the resource only warns', () => {
  assert.equal(judgeTarget(probe({ node: { problem: 'not registered with the gateway' }, readiness: undefined }), REQUEST, null).failures, ['not registered with the gateway']);
  const offline = judgeTarget(probe({ node: { ...NODE, online: false }, readiness: undefined }), REQUEST, null);
  assert.equal(offline.failures, ['offline (last seen 2026-12-07T00:10:00.000Z)']);
  assert.is(offline.pass, false);
  const unreachable = judgeTarget(probe({ readiness: { problem: 'unreachable: 5.04 Gateway Timeout', unsupported: false } }), REQUEST, null);
  assert.equal(unreachable.failures, ['unreachable: 5.04 Gateway Timeout']);
  const old = judgeTarget(probe({ readiness: { problem: 'its agent does not answer /update-readiness (a release before it)', unsupported: true } }), REQUEST, null);
  assert.is(old.pass, true);
  assert.equal(old.warnings, ['its agent does not answer /update-readiness (a release before it)']);
});

test('the agent\'s problems fail the node, each with its reason', () => {
  const verdict = judgeTarget(probe({
    readiness: {
      ...READY, problems: [
        { kind: 'space', message: 'not enough space: …' },
        { kind: 'slot', message: 'the other slot rootfs.1 is marked bad (its last install or boot failed)' },
      ],
    },
  }), REQUEST, null);
  assert.is(verdict.pass, false);
  assert.equal(verdict.failures, ['not enough space: …', 'the other slot rootfs.1 is marked bad (its last install or boot failed)']);
});

test('a node already at or past the version fails (agents refuse it); the agent\'s committed version counts', () => {
  assert.equal(judgeTarget(probe({ readiness: { ...READY, version: '2.0.0' } }), REQUEST, null).failures, ['already runs 2.0.0']);
  assert.equal(judgeTarget(probe({ readiness: { ...READY, version: '2.1.0' } }), REQUEST, null).failures, ['runs 2.1.0, past 2.0.0 (agents refuse an older version)']);
  assert.equal(judgeTarget(probe({ node: { ...NODE, version: '3.0.0' }, readiness: undefined }), REQUEST, null).failures, ['runs 3.0.0, past 2.0.0 (agents refuse an older version)']);
  assert.equal(judgeTarget(probe({ readiness: { ...READY, version: '1.9.9' } }), REQUEST, null).failures, []);
});

test('a lossy or slow link warns; one that could not finish in a week fails; no figures, no estimate', () => {
  const lossy = judgeTarget(probe({ node: { ...NODE, link: { ...LINK, loss: 0.35 } } }), REQUEST, null);
  assert.is(lossy.pass, true);
  assert.equal(lossy.warnings, ['poor link: loss 35 % (measured 2026-12-07T00:05:00.000Z)']);
  const slow = judgeTarget(probe({ node: { ...NODE, link: { ...LINK, window: 1, rtt_ms: 5000 } } }), REQUEST, null);
  assert.is(slow.pass, true);
  assert.equal(slow.warnings, ['slow link: the download would take about 85 min']);
  const dead = judgeTarget(probe({ node: { ...NODE, link: { ...LINK, loss: 1 } } }), REQUEST, null);
  assert.is(dead.pass, false);
  assert.match(dead.failures[0]!, /^link too poor to download 1048576 bytes \(loss 100 %, RTT 20 ms/);
  assert.is(dead.estimated_download_s, null);
  assert.is(judgeTarget(probe({ node: { ...NODE, link: { ...LINK, rtt_ms: null, gateway_rtt_ms: null } } }), REQUEST, null).estimated_download_s, null);
});

test('the estimate: bursts of `window` blocks per round trip, resent at the loss rate; the gateway\'s RTT when the transfer has none', () => {
  // 1024 blocks of 1 KiB, 8 a round trip: 128 round trips of 20 ms.
  assert.is(estimateDownloadS(LINK, 1024 * 1024), 2.56);
  assert.is(estimateDownloadS({ ...LINK, loss: 0.5 }, 1024 * 1024), 5.12);
  assert.is(estimateDownloadS({ ...LINK, rtt_ms: null }, 1024 * 1024), 1.92);
});

test('the report counts who would pass and who would fail, in the targets\' order', () => {
  const report = judgeDryRun([probe(), probe({ nodeId: 'n2', node: { ...NODE, node_id: 'n2', online: false }, readiness: undefined })], undefined, REQUEST);
  assert.equal([report.passed, report.failed], [1, 1]);
  assert.equal(report.nodes.map((node) => [node.node_id, node.pass]), [['n1', true], ['n2', false]]);
  assert.equal([report.update_id, report.image_bytes, report.update_failures, report.update_warnings], ['fw-2.0.0', REQUEST.imageBytes, [], []]);
});

test('with a plan: each target\'s wave in target order, and when its window opens if it is closed now', () => {
  const tagged = (id: string, tags: string[]): TargetProbe => probe({ nodeId: id, node: { ...NODE, node_id: id, tags } });
  const report = judgeDryRun([tagged('n1', []), tagged('n2', ['late']), tagged('n3', []), tagged('n4', [])], undefined, {
    ...REQUEST, plan: { waves: ['1', '50%', '100%'], window: 'daily 00:00-06:00 UTC', group_windows: { late: 'daily 02:00-03:00 UTC' } },
  });
  assert.equal(report.nodes.map((node) => [node.node_id, node.wave, node.window_opens_at]), [
    ['n1', 1, null], ['n2', 2, '2026-12-07T02:00:00.000Z'], ['n3', 3, null], ['n4', 3, null],
  ]);
  assert.equal(report.nodes.map((node) => node.pass), [true, true, true, true]);
});

test('an update id taken by an uploaded or cancelled update fails the publish; one without its image may resume', () => {
  const existing = { operator_state: 'active', image_ready: true } as UpdateDetail;
  assert.equal(judgeDryRun([], existing, REQUEST).update_failures, ['update fw-2.0.0 exists and its image is uploaded: the gateway would refuse the publish (4.09)']);
  assert.equal(judgeDryRun([], { ...existing, operator_state: 'cancelled' }, REQUEST).update_failures, ['update fw-2.0.0 exists and is cancelled: the gateway would refuse the publish (4.09)']);
  const resumable = judgeDryRun([], { ...existing, image_ready: false }, REQUEST);
  assert.equal(resumable.update_failures, []);
  assert.equal(resumable.update_warnings, ['update fw-2.0.0 exists without its image: only the very same manifest resumes its upload (else 4.09)']);
});

test.run();
