// The alert rules as pure functions: a threshold held for its duration raises once, a
// shorter spike does not, hysteresis between clear_below and the threshold, event alerts
// (offline, failed, rolled back, restarted), disk per mount, rules with other thresholds,
// acknowledgement, and a property: for one node and kind there is never a second raise
// without a clear in between.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  acknowledge, alertKey, DEFAULT_RULES, EMPTY_STATE, evaluate, type AlertKind, type AlertRecord, type AlertRules, type NodeAlertState, type Observation,
} from '../../../src/server/alert-rules.js';
import { ALERT_FIELDS, ALERT_KEYS, alertRules, type AlertSettings } from '../../../src/server/alert-settings.js';
import { check } from '../../helpers/check.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const sample = (atS: number, values: { cpu?: number; memory?: number; temperature?: number | null; uptime?: number; previousUptime?: number } = {}): Observation => ({
  type: 'health', at: T0 + atS * 1000, cpu_percent: values.cpu ?? 10, memory_percent: values.memory ?? 10,
  temperature: values.temperature === undefined ? 40 : values.temperature, uptime_s: values.uptime ?? 1000,
  ...(values.previousUptime === undefined ? {} : { previousUptimeS: values.previousUptime }),
});

/** Runs the observations in order, giving raised alerts ids as alerts.ts would; returns
 * every raise and clear as "raise cpu_high@300" / "clear cpu_high@400". */
function run(observations: readonly Observation[], start: NodeAlertState = EMPTY_STATE, rules: AlertRules = DEFAULT_RULES): { events: string[]; state: NodeAlertState } {
  let state = start;
  let next = 1;
  const events: string[] = [];
  for (const observation of observations) {
    const result = evaluate('n1', state, observation, rules);
    const active = { ...result.state.active };
    for (const alert of result.raise) active[alertKey(alert)] = { ...alert, id: String(next++) };
    for (const alert of result.clear) events.push(`clear ${alertKey(alert)}@${(observation.at - T0) / 1000}`);
    for (const alert of result.raise) events.push(`raise ${alertKey(alert)}@${(observation.at - T0) / 1000}`);
    state = { active, overSince: result.state.overSince };
  }
  return { events, state };
}

test('cpu over 90 % held for 300 s raises once, at the sample that completes the duration', () => {
  const { events, state } = run([0, 60, 120, 180, 240, 299, 300, 360, 420].map((s) => sample(s, { cpu: 95 })));
  assert.equal(events, ['raise cpu_high@300']);
  assert.is(state.active.cpu_high?.severity, 'warning');
  assert.match(state.active.cpu_high!.detail, /cpu_percent 95 > 90 since 2026-01-01T00:00:00.000Z/);
});

test('a spike shorter than the duration does not raise, and a dip restarts the duration', () => {
  assert.equal(run([sample(0, { cpu: 99 }), sample(200, { cpu: 99 }), sample(250, { cpu: 20 })]).events, []);
  const broken = [sample(0, { cpu: 95 }), sample(200, { cpu: 95 }), sample(250, { cpu: 90 }), sample(260, { cpu: 95 }), sample(500, { cpu: 95 }), sample(560, { cpu: 95 })];
  assert.equal(run(broken).events, ['raise cpu_high@560']);
});

test('hysteresis: dips between clear_below and the threshold keep it raised; below clears once', () => {
  const observations = [
    sample(0, { cpu: 95 }), sample(300, { cpu: 95 }),
    sample(360, { cpu: 85 }), sample(420, { cpu: 80 }), sample(480, { cpu: 92 }), sample(540, { cpu: 81 }),
    sample(600, { cpu: 79 }), sample(660, { cpu: 50 }),
  ];
  assert.equal(run(observations).events, ['raise cpu_high@300', 'clear cpu_high@600']);
});

test('memory and temperature have their own thresholds and durations; no sensor is no evidence', () => {
  const memory = run([sample(0, { memory: 91 }), sample(300, { memory: 91 }), sample(400, { memory: 86 }), sample(500, { memory: 84 })]);
  assert.equal(memory.events, ['raise memory_high@300', 'clear memory_high@500']);
  const hot = run([sample(0, { temperature: 85 }), sample(60, { temperature: null }), sample(120, { temperature: 82 }), sample(180, { temperature: 74 })]);
  assert.equal(hot.events, ['raise temperature_high@120', 'clear temperature_high@180']);
  assert.is(DEFAULT_RULES.thresholds.find((rule) => rule.kind === 'temperature_high')?.severity, 'critical');
});

const disks = (atS: number, used: Record<string, number>): Observation => ({
  type: 'metrics', at: T0 + atS * 1000, disks: Object.entries(used).map(([mount, used_percent]) => ({ mount, used_percent })),
});

test('disk: each mount held over 90 % for 300 s raises its own alert; hysteresis to 85 %; a mount gone clears its own', () => {
  const { events } = run([
    disks(0, { '/': 95, '/data': 50 }), disks(200, { '/': 95, '/data': 99 }), disks(300, { '/': 95, '/data': 99 }),
    disks(500, { '/': 87, '/data': 99 }), disks(560, { '/': 84, '/data': 99 }), disks(600, { '/': 95 }), disks(660, {}),
  ]);
  assert.equal(events, ['raise disk_high:/@300', 'raise disk_high:/data@500', 'clear disk_high:/@560', 'clear disk_high:/data@600']);
  const health = run([0, 300, 600].map((s) => sample(s)), EMPTY_STATE).events;
  assert.equal(health, [], 'health samples carry no disks: no evidence');
});

test('rules from settings: other thresholds, durations and clear levels; the defaults are the former rules', () => {
  const defaults = Object.fromEntries(ALERT_KEYS.map((key) => [key, ALERT_FIELDS[key].default])) as unknown as AlertSettings;
  assert.equal(alertRules(defaults), DEFAULT_RULES);
  const rules = alertRules({ ...defaults, alert_cpu_percent: 50, alert_cpu_for_s: 0, alert_cpu_clear_percent: 30, alert_disk_percent: 70 });
  assert.equal(run([sample(0, { cpu: 60 }), sample(10, { cpu: 40 }), sample(20, { cpu: 20 })], EMPTY_STATE, rules).events, ['raise cpu_high@0', 'clear cpu_high@20']);
  assert.equal(run([disks(0, { '/': 75 }), disks(300, { '/': 75 })], EMPTY_STATE, rules).events, ['raise disk_high:/@300']);
});

test('offline raises at once and the return clears it; a second offline report does not raise again', () => {
  const events = run([
    { type: 'presence', at: T0, online: false }, { type: 'presence', at: T0 + 1000, online: false }, { type: 'presence', at: T0 + 5000, online: true },
  ]).events;
  assert.equal(events, ['raise node_offline@0', 'clear node_offline@5']);
});

test('failed and rolled back raise; an update later installed clears them', () => {
  const { events, state } = run([
    { type: 'status', at: T0, update_id: 'u1', state: 'failed', error: 'checksum' },
    { type: 'status', at: T0 + 1000, update_id: 'u2', state: 'rolled_back', error: null },
    { type: 'status', at: T0 + 2000, update_id: 'u2', state: 'downloading', error: null },
  ]);
  assert.equal(events, ['raise update_failed@0', 'raise update_rolled_back@1']);
  assert.is(state.active.update_failed?.detail, 'update u1: checksum');
  const installed = run([{ type: 'status', at: T0 + 3000, update_id: 'u3', state: 'installed', error: null }], state).events;
  assert.equal(installed, ['clear update_failed@3', 'clear update_rolled_back@3']);
});

test('a smaller uptime than the previous sample raises restarted; growing uptime does not', () => {
  assert.equal(run([sample(0, { uptime: 1000, previousUptime: 970 })]).events, []);
  assert.equal(run([sample(0, { uptime: 12, previousUptime: 1000 })]).events, ['raise node_restarted@0']);
});

test('acknowledging clears a past event, but not an offline node or a value still over its threshold', () => {
  const base: AlertRecord = { id: '1', node_id: 'n1', kind: 'update_failed', severity: 'critical', raised_at: new Date(T0).toISOString(), cleared_at: null, acknowledged_by: null, detail: '' };
  const failed = acknowledge(base, 'operator:alice', T0 + 1000);
  assert.equal([failed.acknowledged_by, failed.cleared_at], ['operator:alice', new Date(T0 + 1000).toISOString()]);
  for (const kind of ['node_offline', 'cpu_high'] as const) {
    const still = acknowledge({ ...base, kind }, 'operator:alice', T0 + 1000);
    assert.equal([still.acknowledged_by, still.cleared_at], ['operator:alice', null]);
  }
});

const observation: fc.Arbitrary<Observation> = fc.oneof(
  fc.record({ at: fc.integer({ min: 0, max: 30 }), cpu: fc.integer({ min: 0, max: 100 }), memory: fc.integer({ min: 70, max: 100 }),
    temperature: fc.option(fc.integer({ min: 60, max: 100 })), uptime: fc.integer({ min: 0, max: 3 }), previousUptime: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) })
    .map((v) => sample(v.at * 60, { ...v, previousUptime: v.previousUptime })),
  fc.record({ at: fc.integer({ min: 0, max: 30 }), online: fc.boolean() }).map((v): Observation => ({ type: 'presence', at: T0 + v.at * 60_000, online: v.online })),
  fc.record({ at: fc.integer({ min: 0, max: 30 }), state: fc.constantFrom('failed', 'rolled_back', 'installed', 'downloading') })
    .map((v): Observation => ({ type: 'status', at: T0 + v.at * 60_000, update_id: 'u1', state: v.state, error: null })),
);

test('property: for one node and kind, never two raises without a clear in between', async () => {
  await check(fc.property(fc.array(observation, { maxLength: 60 }), (observations) => {
    const raised = new Set<AlertKind>();
    for (const event of run([...observations].sort((a, b) => a.at - b.at)).events) {
      const [what, rest] = event.split(' ') as [string, string];
      const kind = rest.split('@')[0] as AlertKind;
      if (what === 'raise') {
        if (raised.has(kind)) return false;
        raised.add(kind);
      } else {
        if (!raised.has(kind)) return false;
        raised.delete(kind);
      }
    }
    return true;
  }), { numRuns: 300 });
});

test.run();
