// Health-gated waves (issue 13): before a target installs, its baseline from the metrics
// and alerts the gateway keeps (mean CPU and memory over a while before, its uptime, its
// active alerts); the next wave opens only when every updated target of the wave before
// stayed within the policy's margins of its baseline since it installed (mean CPU, mean
// memory, reboots seen as the uptime going down, new active alerts), else the rollout
// pauses (or aborts) with the evidence: which node, which figure, baseline against
// observed. Pure: samples and counts in, a verdict out.

import type { MetricsSample } from './node-views.js';

/** The plan's health gate (rollout-plan.ts); every margin optional: a figure without one is not judged. */
export interface HealthGate {
  /** Mean CPU after the install may exceed the baseline's by this many points. */
  readonly cpu_margin_percent?: number;
  /** Mean memory after the install may exceed the baseline's by this many points. */
  readonly memory_margin_percent?: number;
  /** Reboots after the install (uptime going down) allowed; an A/B system that reboots to
   * switch slots says 1. */
  readonly max_restarts?: number;
  /** Active alerts (src/server/alert-rules.ts) the target may have beyond its baseline's. */
  readonly max_new_alerts?: number;
  /** What a breach does: pause (the default; resume lets the wave through) or abort. */
  readonly on_breach?: 'pause' | 'abort';
  /** Seconds of metrics before the install that make the baseline (default BASELINE_S). */
  readonly baseline_s?: number;
}

export const BASELINE_S = 600;
export const MAX_BASELINE_S = 86_400;
/** The samples read per node for a baseline or a verdict (a day at 90 s, or 15 min at 1 s). */
export const MAX_GATE_SAMPLES = 1000;

/** A target's figures before it installed; null where no sample said. */
export interface Baseline {
  /** When it was taken (the install grant), RFC 3339. */
  readonly at: string;
  readonly samples: number;
  readonly cpu_percent: number | null;
  readonly memory_percent: number | null;
  /** The newest sample's uptime, to see a reboot at the first sample after. */
  readonly uptime_s: number | null;
  /** Its active alerts then. */
  readonly active_alerts: number;
}

export type GatedFigure = 'cpu_percent' | 'memory_percent' | 'restarts' | 'active_alerts';

/** Why a wave did not pass: on the update's status for the operator. */
export interface HealthEvidence {
  /** 1-based. */
  readonly wave: number;
  readonly node: string;
  readonly figure: GatedFigure;
  readonly baseline: number;
  readonly observed: number;
  /** The allowance: baseline + margin (CPU, memory, alerts), max_restarts for restarts. */
  readonly limit: number;
  readonly action: 'pause' | 'abort';
  /** When the gateway saw it (RFC 3339). */
  readonly at: string;
}

/** One updated target of the wave under judgement. */
export interface GatedTarget {
  readonly node: string;
  readonly baseline: Baseline | undefined;
  /** Its samples since it installed, oldest first. */
  readonly after: readonly MetricsSample[];
  /** Its active alerts now. */
  readonly activeAlerts: number;
}

/** Problems of a health gate from untrusted JSON. */
export function healthGateProblems(input: unknown): string[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return ['policy.health_gate: an object'];
  const gate = input as Record<string, unknown>;
  const problems: string[] = [];
  const known = ['cpu_margin_percent', 'memory_margin_percent', 'max_restarts', 'max_new_alerts', 'on_breach', 'baseline_s'];
  const stranger = Object.keys(gate).find((key) => !known.includes(key));
  if (stranger !== undefined) problems.push(`policy.health_gate: unknown field ${stranger}`);
  for (const name of ['cpu_margin_percent', 'memory_margin_percent'] as const) {
    const value = gate[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100)) problems.push(`policy.health_gate.${name}: 0..100`);
  }
  for (const name of ['max_restarts', 'max_new_alerts'] as const) {
    const value = gate[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 100)) problems.push(`policy.health_gate.${name}: integer 0..100`);
  }
  if (gate.on_breach !== undefined && gate.on_breach !== 'pause' && gate.on_breach !== 'abort') problems.push('policy.health_gate.on_breach: "pause" or "abort"');
  const baseline = gate.baseline_s;
  if (baseline !== undefined && (typeof baseline !== 'number' || !Number.isInteger(baseline) || baseline < 1 || baseline > MAX_BASELINE_S)) problems.push(`policy.health_gate.baseline_s: integer 1..${MAX_BASELINE_S}`);
  return problems;
}

/** A baseline from the samples before the install and the active alerts, taken at `at`. */
export function baselineOf(samples: readonly MetricsSample[], activeAlerts: number, at: string): Baseline {
  return {
    at, samples: samples.length, cpu_percent: mean(samples.map((sample) => sample.cpu_percent)),
    memory_percent: mean(samples.map((sample) => sample.memory_percent)), uptime_s: samples.at(-1)?.uptime_s ?? null,
    active_alerts: activeAlerts,
  };
}

/** The first figure of the first target (in the order given) outside its allowance, or
 * undefined when the wave passes. A target without a baseline is not judged; one without
 * samples after its install, or without a baseline figure, is not judged on the metrics:
 * there is nothing to compare. */
export function healthBreach(gate: HealthGate, wave: number, targets: readonly GatedTarget[], at: string): HealthEvidence | undefined {
  const action = gate.on_breach ?? 'pause';
  for (const { node, baseline, after, activeAlerts } of targets) {
    if (baseline === undefined) continue;
    const evidence = (figure: GatedFigure, base: number, observed: number, limit: number): HealthEvidence =>
      ({ wave, node, figure, baseline: round(base), observed: round(observed), limit: round(limit), action, at });
    const allowed = gate.max_new_alerts;
    if (allowed !== undefined && activeAlerts > baseline.active_alerts + allowed) {
      return evidence('active_alerts', baseline.active_alerts, activeAlerts, baseline.active_alerts + allowed);
    }
    if (after.length === 0) continue;
    for (const figure of ['cpu_percent', 'memory_percent'] as const) {
      const margin = figure === 'cpu_percent' ? gate.cpu_margin_percent : gate.memory_margin_percent;
      const base = baseline[figure];
      if (margin === undefined || base === null) continue;
      const observed = mean(after.map((sample) => sample[figure]))!;
      if (observed > base + margin) return evidence(figure, base, observed, base + margin);
    }
    if (gate.max_restarts !== undefined) {
      const restarts = restartsIn(baseline.uptime_s, after);
      if (restarts > gate.max_restarts) return evidence('restarts', 0, restarts, gate.max_restarts);
    }
  }
  return undefined;
}

/** Reboots seen in the samples: each time the uptime went down, from the baseline's on. */
function restartsIn(before: number | null, samples: readonly MetricsSample[]): number {
  let restarts = 0;
  let previous = before;
  for (const sample of samples) {
    if (previous !== null && sample.uptime_s < previous) restarts++;
    previous = sample.uptime_s;
  }
  return restarts;
}

const mean = (values: readonly number[]): number | null =>
  (values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length);

const round = (value: number): number => Math.round(value * 10) / 10;
