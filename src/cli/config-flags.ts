// A daemon's settings as command-line flags: one `--key-with-dashes` per key of its field
// table (src/fleet/config-layers.ts), listed in the usage, and the flags of earlier
// spellings, accepted but not listed (the loader warns that they are deprecated).

import { describeField, flagName, type FieldTable } from '../fleet/config-layers.js';
import type { FlagSpec, FlagSpecs } from './args.js';

export interface SettingFlags {
  /** The flags to list in the usage text. */
  readonly listed: FlagSpecs;
  /** Every flag a setting can be given by, listed or deprecated. */
  readonly accepted: FlagSpecs;
}

export function settingFlags(fields: FieldTable): SettingFlags {
  const listed: Record<string, FlagSpec> = {};
  const accepted: Record<string, FlagSpec> = {};
  for (const [key, field] of Object.entries(fields)) {
    const spec: FlagSpec = field.kind === 'boolean' && field.value === undefined
      ? { type: 'boolean', description: describeField(field) }
      : { type: 'string', value: field.value ?? 'VALUE', description: describeField(field) };
    listed[flagName(key)] = spec;
    accepted[flagName(key)] = spec;
    for (const old of field.deprecated ?? []) accepted[flagName(old)] = { ...spec, description: `deprecated: --${flagName(key)}` };
  }
  return { listed, accepted };
}

/** The setting flags given, by key as spelled (underscores), for the loader. */
export function settingFlagValues(fields: FieldTable, flags: Readonly<Record<string, unknown>>): Record<string, string | boolean> {
  const values: Record<string, string | boolean> = {};
  for (const [key, field] of Object.entries(fields)) {
    for (const spelled of [key, ...(field.deprecated ?? [])]) {
      const value = flags[flagName(spelled)];
      if (typeof value === 'string' || typeof value === 'boolean') values[spelled] = value;
    }
  }
  return values;
}
