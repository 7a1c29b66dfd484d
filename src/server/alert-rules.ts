// The gateway's alert rules and their evaluator (issue 11): pure functions of a node's
// alert state and one observation, so every rule is tested without a clock or a store
// (alerts.ts keeps the state and applies the changes). Threshold alerts (cpu, memory,
// temperature) raise once the value has stayed over the threshold continuously for the
// rule's duration and clear only below the lower `clear_below` (hysteresis: a value that
// hovers around the threshold does not flap). Event alerts (offline, update failed or
// rolled back, restarted) raise at once; offline clears when the node is back, a failed
// or rolled-back update when the node later reports an update installed, and every event
// alert when an operator acknowledges it. Times are milliseconds passed in by the caller.
// Disk is one threshold rule applied per mount (from the metrics samples): one alert per
// node and mount, keyed "disk_high:<mount>"; a mount gone from the samples clears its own.

import type { AlertSeverity, AlertView } from '../fleet/views.js';

export const THRESHOLD_KINDS = ['cpu_high', 'memory_high', 'temperature_high', 'disk_high'] as const;
export type ThresholdKind = (typeof THRESHOLD_KINDS)[number];
export const EVENT_KINDS = ['node_offline', 'update_failed', 'update_rolled_back', 'node_restarted', 'agent_restarted'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
export type AlertKind = ThresholdKind | EventKind;

export interface ThresholdRule {
  readonly kind: ThresholdKind;
  /** A health sample's figure, or each mount's `used_percent` of a metrics sample. */
  readonly metric: 'cpu_percent' | 'memory_percent' | 'temperature' | 'disk_used_percent';
  /** Raised when the value is over this… */
  readonly threshold: number;
  /** …continuously for this long (0: at the first sample over it). */
  readonly for_s: number;
  /** Cleared at the first sample below this (≤ threshold). */
  readonly clear_below: number;
  readonly severity: AlertSeverity;
}

export interface AlertRules {
  readonly thresholds: readonly ThresholdRule[];
  readonly events: Readonly<Record<EventKind, AlertSeverity>>;
}

export const DEFAULT_RULES: AlertRules = {
  thresholds: [
    { kind: 'cpu_high', metric: 'cpu_percent', threshold: 90, for_s: 300, clear_below: 80, severity: 'warning' },
    { kind: 'memory_high', metric: 'memory_percent', threshold: 90, for_s: 300, clear_below: 85, severity: 'warning' },
    { kind: 'temperature_high', metric: 'temperature', threshold: 80, for_s: 120, clear_below: 75, severity: 'critical' },
    { kind: 'disk_high', metric: 'disk_used_percent', threshold: 90, for_s: 300, clear_below: 85, severity: 'warning' },
  ],
  events: { node_offline: 'critical', update_failed: 'critical', update_rolled_back: 'warning', node_restarted: 'warning', agent_restarted: 'warning' },
};

/** One alert as stored and served (GET /alerts shows the records as they are). */
export interface AlertRecord extends AlertView {
  readonly kind: AlertKind;
  /** The mount of a disk_high alert. */
  readonly mount?: string;
}

/** Which alert of a node a record is: its kind, and for disk its mount. A node has at most
 * one active alert per key. */
export const alertKey = (alert: { readonly kind: AlertKind; readonly mount?: string | undefined }): string =>
  alert.mount === undefined ? alert.kind : `${alert.kind}:${alert.mount}`;

/** An alert to raise; the caller gives it its id. */
export type NewAlert = Omit<AlertRecord, 'id'>;

/** One node's alerts as the evaluator needs them: the active ones by alertKey and, per
 * threshold rule (and mount), since when the value has been over the threshold without a
 * break. */
export interface NodeAlertState {
  readonly active: Readonly<Record<string, AlertRecord>>;
  readonly overSince: Readonly<Record<string, number>>;
}

export const EMPTY_STATE: NodeAlertState = { active: {}, overSince: {} };

export type Observation =
  /** A health sample taken at `at`; `previousUptimeS` is the uptime in the node's sample
   * before it (a smaller uptime now means the node restarted in between). */
  | { readonly type: 'health'; readonly at: number; readonly cpu_percent: number; readonly memory_percent: number; readonly temperature: number | null; readonly uptime_s: number; readonly previousUptimeS?: number }
  /** A metrics sample taken at `at`: its disks. */
  | { readonly type: 'metrics'; readonly at: number; readonly disks: readonly { readonly mount: string; readonly used_percent: number }[] }
  | { readonly type: 'presence'; readonly at: number; readonly online: boolean }
  /** A registration whose agent started at another time than the one before it. */
  | { readonly type: 'agent-start'; readonly at: number; readonly previous: string; readonly started: string }
  | { readonly type: 'status'; readonly at: number; readonly update_id: string; readonly state: string; readonly error: string | null };

export interface Evaluation {
  readonly state: NodeAlertState;
  readonly raise: readonly NewAlert[];
  /** Active alerts now cleared (with `cleared_at` set). */
  readonly clear: readonly AlertRecord[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** What `observation` changes in the alerts of `nodeId`. */
export function evaluate(nodeId: string, state: NodeAlertState, observation: Observation, rules: AlertRules = DEFAULT_RULES): Evaluation {
  const active: Record<string, AlertRecord> = { ...state.active };
  const overSince: Record<string, number> = { ...state.overSince };
  const raise: NewAlert[] = [];
  const clear: AlertRecord[] = [];
  const at = observation.at;
  const raiseAlert = (kind: AlertKind, severity: AlertSeverity, detail: string, mount?: string): void => {
    const key = alertKey({ kind, mount });
    if (active[key] !== undefined) return;
    const alert: NewAlert = { node_id: nodeId, kind, ...(mount === undefined ? {} : { mount }), severity, raised_at: iso(at), cleared_at: null, acknowledged_by: null, detail };
    raise.push(alert);
    // Its id is the caller's to give; the state only needs to know it is active.
    active[key] = { id: '', ...alert };
  };
  const raiseEvent = (kind: EventKind, detail: string): void => raiseAlert(kind, rules.events[kind], detail);
  const clearActive = (key: string): void => {
    const current = active[key];
    if (current === undefined) return;
    clear.push({ ...current, cleared_at: iso(at) });
    delete active[key];
  };
  /** One value against one rule: raised once over it for the rule's duration, cleared
   * below clear_below. */
  const threshold = (rule: ThresholdRule, value: number, label: string, mount?: string): void => {
    const key = alertKey({ kind: rule.kind, mount });
    if (active[key] !== undefined) {
      if (value < rule.clear_below) clearActive(key);
      return;
    }
    if (value <= rule.threshold) {
      delete overSince[key];
      return;
    }
    const since = overSince[key] ?? at;
    if (at - since >= rule.for_s * 1000) {
      delete overSince[key];
      raiseAlert(rule.kind, rule.severity, `${label} ${value} > ${rule.threshold} since ${iso(since)}`, mount);
    } else {
      overSince[key] = since;
    }
  };

  switch (observation.type) {
    case 'health':
      for (const rule of rules.thresholds) {
        if (rule.metric === 'disk_used_percent') continue;
        const value = observation[rule.metric];
        // No sensor (temperature null): no evidence either way.
        if (value !== null) threshold(rule, value, rule.metric);
      }
      if (observation.previousUptimeS !== undefined && observation.uptime_s < observation.previousUptimeS) {
        raiseEvent('node_restarted', `uptime went from ${observation.previousUptimeS} s to ${observation.uptime_s} s`);
      }
      break;
    case 'metrics': {
      const mounts = new Set(observation.disks.map((disk) => disk.mount));
      for (const rule of rules.thresholds) {
        if (rule.metric !== 'disk_used_percent') continue;
        for (const disk of observation.disks) threshold(rule, disk.used_percent, `disk ${disk.mount} used_percent`, disk.mount);
        // A mount no longer reported (unmounted, removed) is over nothing any more; a
        // sample without any disk (unreadable) is no evidence.
        if (mounts.size === 0) continue;
        const prefix = `${rule.kind}:`;
        for (const key of Object.keys(overSince)) if (key.startsWith(prefix) && !mounts.has(key.slice(prefix.length))) delete overSince[key];
        for (const [key, alert] of Object.entries(active)) if (alert.kind === rule.kind && alert.mount !== undefined && !mounts.has(alert.mount)) clearActive(key);
      }
      break;
    }
    case 'presence':
      if (observation.online) clearActive('node_offline');
      else raiseEvent('node_offline', 'no report within the offline interval');
      break;
    case 'agent-start':
      raiseEvent('agent_restarted', `the agent started again at ${observation.started} (before: ${observation.previous})`);
      break;
    case 'status':
      if (observation.state === 'failed') raiseEvent('update_failed', `update ${observation.update_id}: ${observation.error ?? 'failed'}`);
      else if (observation.state === 'rolled_back') raiseEvent('update_rolled_back', `update ${observation.update_id}: ${observation.error ?? 'rolled back'}`);
      else if (observation.state === 'installed') {
        clearActive('update_failed');
        clearActive('update_rolled_back');
      }
      break;
    default: {
      const never: never = observation;
      throw new Error(`unknown observation ${JSON.stringify(never)}`);
    }
  }
  return { state: { active, overSince }, raise, clear };
}

/** The alerts of an event that is over when it is reported: an acknowledgement clears them. */
const CLEARED_BY_ACKNOWLEDGEMENT: readonly AlertKind[] = ['update_failed', 'update_rolled_back', 'node_restarted', 'agent_restarted'];

/** `alert` acknowledged by `who` at `at`: a past event's alert is cleared by it (the
 * operator has seen it); an offline node or a value over its threshold stays raised
 * until the node is back or the value comes down. */
export function acknowledge(alert: AlertRecord, who: string, at: number): AlertRecord {
  const cleared = alert.cleared_at ?? (CLEARED_BY_ACKNOWLEDGEMENT.includes(alert.kind) ? iso(at) : null);
  return { ...alert, acknowledged_by: who, cleared_at: cleared };
}

