// Where the agent keeps the settings an operator changed remotely (a signed config.set):
// <data_dir>/remote-settings.json (src/fleet/settings-overlay.ts reads and writes it).

import { join } from 'node:path';
import { readSettingsOverlay, writeSettingsOverlay } from '../fleet/settings-overlay.js';

export const OVERLAY_FILE = 'remote-settings.json';

export const overlayPath = (dataDir: string): string => join(dataDir, OVERLAY_FILE);

export const readOverlay = (dataDir: string): ReturnType<typeof readSettingsOverlay> => readSettingsOverlay(overlayPath(dataDir));

export const writeOverlay = (dataDir: string, values: Readonly<Record<string, unknown>>): Promise<void> =>
  writeSettingsOverlay(overlayPath(dataDir), values);
