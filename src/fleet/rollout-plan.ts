// The rollout plan of policy format 2 (issue 13): waves over the target list, each baking
// for a while once its targets are done before the next may install; a failure threshold
// per wave; and the maintenance window of each node by its tags. Pure functions of the
// policy, the targets' states (in target order) and the time, so the gateway decides the
// same after a restart mid-bake: a wave's end is its last target's final report, stored.

import { healthGateProblems, type HealthGate } from './health-gate.js';
import { isValidTag } from './node-tags.js';
import { isInside, parseWindow, secondsUntilOpen, type MaintenanceWindow } from './maintenance-window.js';
import { isTerminal, type NodeUpdateStatus } from './update-state.js';

/** The plan's fields of an UpdatePolicy (manifest.ts), all optional: none is format 1's policy. */
export interface RolloutPlan {
  /** Cumulative wave sizes in order: a target count ("1") or a share of the targets ("10%"). */
  readonly waves?: readonly string[];
  /** Seconds a wave's targets must be done before the next wave may install. */
  readonly bake_s?: number;
  /** This many failed or rolled-back targets in one wave abort the rollout. */
  readonly wave_failure_threshold?: number;
  /** When every target may install; without one, any time. */
  readonly window?: string;
  /** Windows by node tag, before `window`: a node takes the first (in tag order) of its tags'. */
  readonly group_windows?: Readonly<Record<string, string>>;
  /** With waves: the next wave opens only when the wave before stayed healthy (health-gate.ts). */
  readonly health_gate?: HealthGate;
}

export const MAX_WAVES = 16;
export const MAX_BAKE_S = 30 * 86_400;
export const MAX_GROUP_WINDOWS = 32;
/** How soon a target of a wave not yet open asks again while the wave before is installing. */
export const WAVE_RETRY_S = 10;

export type WaveState = 'waiting' | 'open' | 'baking' | 'done';

/** One wave as the rollout's views show it. */
export interface WaveView {
  /** 1-based, in order. */
  readonly wave: number;
  readonly targets: number;
  readonly installed: number;
  readonly failed: number;
  readonly state: WaveState;
  /** While baking: when the next wave may start (RFC 3339). */
  readonly bake_until: string | null;
}

export interface WaveProgress {
  readonly waves: readonly WaveView[];
  /** The index (0-based) of the last wave whose targets may install. */
  readonly open: number;
}

/** A wave size, or undefined when `text` is none: "N" targets or "P%" (1..100). */
export function parseWaveSize(text: string): { readonly count: number } | { readonly percent: number } | undefined {
  const match = /^(\d{1,5})(%?)$/.exec(text);
  if (match === null) return undefined;
  const value = Number(match[1]);
  if (match[2] === '%') return value >= 1 && value <= 100 ? { percent: value } : undefined;
  return value >= 1 ? { count: value } : undefined;
}

/** Problems of a plan from untrusted JSON (the policy's parser names them). */
export function planProblems(plan: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  const { waves, bake_s: bake, wave_failure_threshold: threshold, window, group_windows: groups, health_gate: gate } = plan;
  if (gate !== undefined) problems.push(...healthGateProblems(gate));
  if (waves !== undefined && (!Array.isArray(waves) || waves.length < 1 || waves.length > MAX_WAVES
    || !waves.every((size) => typeof size === 'string' && parseWaveSize(size) !== undefined))) {
    problems.push(`policy.waves: 1..${MAX_WAVES} sizes like "1" or "10%"`);
  }
  if (bake !== undefined && (typeof bake !== 'number' || !Number.isInteger(bake) || bake < 0 || bake > MAX_BAKE_S)) problems.push(`policy.bake_s: integer 0..${MAX_BAKE_S}`);
  if (threshold !== undefined && (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1)) problems.push('policy.wave_failure_threshold: integer 1 or more');
  if (window !== undefined) {
    const parsed = typeof window === 'string' ? parseWindow(window) : { problem: 'a string' };
    if ('problem' in parsed) problems.push(`policy.window: ${parsed.problem}`);
  }
  if (groups !== undefined) {
    if (typeof groups !== 'object' || groups === null || Array.isArray(groups) || Object.keys(groups).length > MAX_GROUP_WINDOWS) {
      problems.push(`policy.group_windows: an object of up to ${MAX_GROUP_WINDOWS} tag: window`);
    } else {
      for (const [tag, text] of Object.entries(groups)) {
        const parsed = typeof text === 'string' ? parseWindow(text) : { problem: 'a string' };
        if (!isValidTag(tag)) problems.push(`policy.group_windows: ${JSON.stringify(tag)} is not a tag`);
        else if ('problem' in parsed) problems.push(`policy.group_windows.${tag}: ${parsed.problem}`);
      }
    }
  }
  return problems;
}

/** Where each wave ends in the target list (exclusive, strictly increasing, the last one
 * all targets): sizes are cumulative ("1,10%,50%,100%" of 40 targets: 1, 4, 20, 40); a
 * size that adds no target makes no wave, and targets past the last size form a last wave. */
export function waveEnds(waves: readonly string[] | undefined, targetCount: number): number[] {
  const ends: number[] = [];
  for (const text of waves ?? []) {
    const size = parseWaveSize(text);
    if (size === undefined) continue;
    const end = Math.min(targetCount, 'count' in size ? size.count : Math.ceil((size.percent * targetCount) / 100));
    if (end > (ends.at(-1) ?? 0)) ends.push(end);
  }
  if ((ends.at(-1) ?? 0) < targetCount) ends.push(targetCount);
  return ends;
}

/** The waves of a rollout at `now` (epoch ms), from its targets' statuses in target order. */
export function waveProgress(plan: RolloutPlan, statuses: readonly NodeUpdateStatus[], now: number): WaveProgress {
  const bakeMs = (plan.bake_s ?? 0) * 1000;
  const waves: WaveView[] = [];
  let open = 0;
  let start = 0;
  let previousDone = true;
  for (const end of waveEnds(plan.waves, statuses.length)) {
    const members = statuses.slice(start, end);
    start = end;
    const installed = members.filter((status) => status.state === 'installed').length;
    const failed = members.filter(isFailure).length;
    const settled = members.every((status) => isTerminal(status.state));
    // The wave ended with its last final report; the gateway stamps each with its own clock.
    const endedAt = Math.max(...members.map((status) => Date.parse(status.updated_at)));
    const bakeUntil = endedAt + bakeMs;
    // The last wave has no wave after it to hold back: done once its targets are.
    const state: WaveState = !previousDone ? 'waiting' : !settled ? 'open' : end < statuses.length && now < bakeUntil ? 'baking' : 'done';
    if (previousDone) open = waves.length;
    waves.push({
      wave: waves.length + 1, targets: members.length, installed, failed, state,
      bake_until: state === 'baking' ? new Date(bakeUntil).toISOString() : null,
    });
    previousDone = state === 'done';
  }
  return { waves, open };
}

/** The first wave (1-based) whose failed or rolled-back targets reached the per-wave
 * threshold, from the statuses in target order; undefined without one. */
export function waveOverThreshold(plan: RolloutPlan, statuses: readonly NodeUpdateStatus[]): number | undefined {
  const threshold = plan.wave_failure_threshold;
  if (threshold === undefined) return undefined;
  let start = 0;
  for (const [index, end] of waveEnds(plan.waves, statuses.length).entries()) {
    if (statuses.slice(start, end).filter(isFailure).length >= threshold) return index + 1;
    start = end;
  }
  return undefined;
}

const isFailure = (status: NodeUpdateStatus): boolean => status.state === 'failed' || status.state === 'rolled_back';

/** Whether the target at `index` may install by the waves; else seconds to ask again in:
 * the bake left when the wave before is baking, WAVE_RETRY_S while it installs. */
export function waveGate(progress: WaveProgress, index: number, now: number): { readonly go: true } | { readonly go: false; readonly retryAfterSeconds: number; readonly reason: string } {
  let end = 0;
  let wave = 0;
  for (const view of progress.waves) {
    end += view.targets;
    if (index < end) break;
    wave++;
  }
  if (wave <= progress.open) return { go: true };
  const before = progress.waves[progress.open]!;
  if (before.state === 'baking') {
    const left = Math.max(1, Math.ceil((Date.parse(before.bake_until!) - now) / 1000));
    return { go: false, retryAfterSeconds: left, reason: `wave ${before.wave} baking, ${left} s left; this node is in wave ${wave + 1}` };
  }
  return { go: false, retryAfterSeconds: WAVE_RETRY_S, reason: `wave ${before.wave} installing; this node is in wave ${wave + 1}` };
}

/** The window a node with `tags` installs in: its first tag's (in tag order) among the
 * group windows, else the plan's own, else none (any time). */
export function windowFor(plan: RolloutPlan, tags: readonly string[]): MaintenanceWindow | undefined {
  const groups = plan.group_windows ?? {};
  const tag = [...tags].sort().find((name) => Object.hasOwn(groups, name));
  const text = tag === undefined ? plan.window : groups[tag];
  if (text === undefined) return undefined;
  const parsed = parseWindow(text);
  return 'problem' in parsed ? undefined : parsed;
}

/** Whether a node may install now by its window; else the seconds until it opens. */
export function windowGate(window: MaintenanceWindow | undefined, now: number): { readonly go: true } | { readonly go: false; readonly retryAfterSeconds: number; readonly reason: string } {
  if (window === undefined || isInside(window, now)) return { go: true };
  return { go: false, retryAfterSeconds: secondsUntilOpen(window, now), reason: `outside the maintenance window ${window.text}` };
}
