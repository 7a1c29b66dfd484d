// The alert thresholds as gateway settings (issue 11: "rules from the config with sensible
// defaults"): their config fields, whose defaults are alert-rules.ts's DEFAULT_RULES, the
// rules a configuration gives, and what no single value shows (a clear level above its
// threshold would never clear).

import { DEFAULT_RULES, type AlertRules, type ThresholdKind, type ThresholdRule } from './alert-rules.js';

/** The setting names of one threshold rule: over `threshold` for `for_s`, cleared below `clear`. */
interface RuleSettings {
  readonly threshold: string;
  readonly for_s: string;
  readonly clear: string;
}

const SETTINGS: Readonly<Record<ThresholdKind, RuleSettings>> = {
  cpu_high: { threshold: 'alert_cpu_percent', for_s: 'alert_cpu_for_s', clear: 'alert_cpu_clear_percent' },
  memory_high: { threshold: 'alert_memory_percent', for_s: 'alert_memory_for_s', clear: 'alert_memory_clear_percent' },
  disk_high: { threshold: 'alert_disk_percent', for_s: 'alert_disk_for_s', clear: 'alert_disk_clear_percent' },
  temperature_high: { threshold: 'alert_temperature_c', for_s: 'alert_temperature_for_s', clear: 'alert_temperature_clear_c' },
};

const defaultRule = (kind: ThresholdKind): ThresholdRule => DEFAULT_RULES.thresholds.find((rule) => rule.kind === kind)!;

const percent = (kind: ThresholdKind, what: string, value: number) =>
  ({ kind: 'number', value: 'PERCENT', min: 0, max: 100, default: value, description: `${what} (${kind})` }) as const;
const celsius = (what: string, value: number) =>
  ({ kind: 'number', value: 'CELSIUS', min: -100, max: 250, default: value, description: `${what} (temperature_high)` }) as const;
const seconds = (kind: ThresholdKind) =>
  ({ kind: 'seconds', value: 'SECONDS', min: 0, max: 7 * 86_400, default: defaultRule(kind).for_s, description: `how long over the threshold before ${kind} is raised` }) as const;

export const ALERT_FIELDS = {
  alert_cpu_percent: percent('cpu_high', 'CPU busy over this raises', defaultRule('cpu_high').threshold),
  alert_cpu_for_s: seconds('cpu_high'),
  alert_cpu_clear_percent: percent('cpu_high', 'CPU busy below this clears', defaultRule('cpu_high').clear_below),
  alert_memory_percent: percent('memory_high', 'memory used over this raises', defaultRule('memory_high').threshold),
  alert_memory_for_s: seconds('memory_high'),
  alert_memory_clear_percent: percent('memory_high', 'memory used below this clears', defaultRule('memory_high').clear_below),
  alert_disk_percent: percent('disk_high', 'a mount used over this raises', defaultRule('disk_high').threshold),
  alert_disk_for_s: seconds('disk_high'),
  alert_disk_clear_percent: percent('disk_high', 'a mount used below this clears', defaultRule('disk_high').clear_below),
  alert_temperature_c: celsius('°C over this raises', defaultRule('temperature_high').threshold),
  alert_temperature_for_s: seconds('temperature_high'),
  alert_temperature_clear_c: celsius('°C below this clears', defaultRule('temperature_high').clear_below),
} as const;

export type AlertSettings = { readonly [K in keyof typeof ALERT_FIELDS]: number };

export const ALERT_KEYS = Object.keys(ALERT_FIELDS) as (keyof AlertSettings)[];

const value = (settings: AlertSettings, key: string): number => settings[key as keyof AlertSettings];

/** The rules `settings` give: the thresholds from them, severities and events as default. */
export function alertRules(settings: AlertSettings): AlertRules {
  return {
    ...DEFAULT_RULES,
    thresholds: DEFAULT_RULES.thresholds.map((rule): ThresholdRule => {
      const names = SETTINGS[rule.kind];
      return { ...rule, threshold: value(settings, names.threshold), for_s: value(settings, names.for_s), clear_below: value(settings, names.clear) };
    }),
  };
}

/** Each clear level above its threshold: such an alert would clear at the first sample
 * after it was raised. */
export function alertSettingProblems(settings: AlertSettings): string[] {
  return Object.values(SETTINGS)
    .filter((names) => value(settings, names.clear) > value(settings, names.threshold))
    .map((names) => `${names.clear} (${value(settings, names.clear)}) must not be above ${names.threshold} (${value(settings, names.threshold)})`);
}
