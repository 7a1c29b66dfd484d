// Where PUT /system/config keeps what it changed: `config-overlay.json` in data_dir, laid
// over the config file at every start (under the environment and the flags, which the
// service manager's unit sets on purpose); a file of its own rather than the config file,
// which may be read-only, shared, or under configuration management. Read and written by
// src/fleet/settings-overlay.ts, as the agent's.

import { join } from 'node:path';
import { readSettingsOverlay, writeSettingsOverlay } from '../fleet/settings-overlay.js';
import { ConfigError } from './errors.js';

export const OVERLAY_FILE = 'config-overlay.json';

export const overlayPath = (dataDir: string): string => join(dataDir, OVERLAY_FILE);

/** The overlay's settings; none when there is no file; a ConfigError naming a bad one. */
export function readOverlay(dataDir: string): Record<string, unknown> {
  const read = readSettingsOverlay(overlayPath(dataDir));
  if ('problem' in read) throw new ConfigError(read.problem);
  return read.values;
}

/** Replaces the overlay durably. */
export const writeOverlay = (dataDir: string, settings: Readonly<Record<string, unknown>>): Promise<void> =>
  writeSettingsOverlay(overlayPath(dataDir), settings);
