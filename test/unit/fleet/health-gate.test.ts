// Health-gated waves, the pure part (src/fleet/health-gate.ts): a baseline is the mean of
// the samples before the install; a wave passes while each updated target's mean CPU and
// memory since stay within the margins and it rebooted no more than allowed; otherwise the
// first breach is the evidence; so are more new active alerts than allowed. Figures
// without a margin, or without data, are not judged.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baselineOf, healthBreach, healthGateProblems, type HealthGate } from '../../../src/fleet/health-gate.js';
import type { MetricsSample } from '../../../src/fleet/node-views.js';

const sample = (cpu: number, memory: number, uptime: number): MetricsSample => ({
  at: '2026-12-07T12:00:00Z', cpu_percent: cpu, memory_total_bytes: 1e9, memory_available_bytes: 5e8, memory_percent: memory,
  load: [0, 0, 0], temperature: null, uptime_s: uptime, disks: [], network: [],
});
const AT = '2026-12-07T12:30:00.000Z';
const gate: HealthGate = { cpu_margin_percent: 20, memory_margin_percent: 10, max_restarts: 0 };

test('the baseline is the mean of the samples before; none gives nulls', () => {
  assert.equal(baselineOf([sample(10, 40, 100), sample(20, 50, 110)], 1, AT), { at: AT, samples: 2, cpu_percent: 15, memory_percent: 45, uptime_s: 110, active_alerts: 1 });
  assert.equal(baselineOf([], 0, AT), { at: AT, samples: 0, cpu_percent: null, memory_percent: null, uptime_s: null, active_alerts: 0 });
});

test('within the margins the wave passes; a CPU jump, a memory jump or a reboot is the evidence, the first target first', () => {
  const baseline = baselineOf([sample(10, 40, 100)], 0, AT);
  const calm = { node: 'n1', baseline, after: [sample(25, 45, 200), sample(29, 49, 260)], activeAlerts: 0 };
  assert.is(healthBreach(gate, 1, [calm], AT), undefined);
  const hot = { node: 'n2', baseline, after: [sample(60, 40, 200), sample(40, 40, 260)], activeAlerts: 0 };
  assert.equal(healthBreach(gate, 2, [calm, hot], AT), { wave: 2, node: 'n2', figure: 'cpu_percent', baseline: 10, observed: 50, limit: 30, action: 'pause', at: AT });
  const leaky = { node: 'n3', baseline, after: [sample(10, 55, 200)], activeAlerts: 0 };
  assert.is(healthBreach({ ...gate, on_breach: 'abort' }, 1, [leaky], AT)?.figure, 'memory_percent');
  assert.is(healthBreach({ ...gate, on_breach: 'abort' }, 1, [leaky], AT)?.action, 'abort');
  const rebooted = { node: 'n4', baseline, after: [sample(10, 40, 30), sample(10, 40, 90)], activeAlerts: 0 };
  assert.equal(healthBreach(gate, 1, [rebooted], AT), { wave: 1, node: 'n4', figure: 'restarts', baseline: 0, observed: 1, limit: 0, action: 'pause', at: AT });
  assert.is(healthBreach({ ...gate, max_restarts: 1 }, 1, [rebooted], AT), undefined, 'an A/B reboot allowed');
  const alerted = { ...calm, activeAlerts: 2 };
  assert.is(healthBreach(gate, 1, [alerted], AT), undefined, 'alerts not gated without max_new_alerts');
  assert.equal(healthBreach({ ...gate, max_new_alerts: 1 }, 3, [alerted], AT), { wave: 3, node: 'n1', figure: 'active_alerts', baseline: 0, observed: 2, limit: 1, action: 'pause', at: AT });
});

test('no margin, no baseline or no samples after: not judged', () => {
  const hot = { node: 'n1', baseline: baselineOf([sample(10, 40, 100)], 0, AT), after: [sample(90, 90, 200)], activeAlerts: 0 };
  assert.is(healthBreach({}, 1, [hot], AT), undefined);
  assert.is(healthBreach(gate, 1, [{ ...hot, baseline: undefined }], AT), undefined);
  assert.is(healthBreach(gate, 1, [{ ...hot, after: [] }], AT), undefined);
});

test('a bad gate is refused field by field', () => {
  assert.equal(healthGateProblems({ cpu_margin_percent: 20, on_breach: 'pause', baseline_s: 600 }), []);
  assert.is(healthGateProblems({ cpu_margin_percent: -1, max_restarts: 0.5, max_new_alerts: -1, on_breach: 'panic', baseline_s: 0, colour: 1 }).length, 6);
  assert.equal(healthGateProblems('x'), ['policy.health_gate: an object']);
});

test.run();
