// The settings an operator changed remotely (a signed config.set, PUT /system/config), kept
// in <data_dir>/remote-settings.json so they survive a restart. A file rather than LMDB:
// the config loader reads it before the agent opens its store (and data_dir itself comes
// from the configuration), and an operator on the node can read or delete it. The loader
// applies it above the config file and below the environment and flags (config.ts).

import { readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export const OVERLAY_FILE = 'remote-settings.json';

export const overlayPath = (dataDir: string): string => join(dataDir, OVERLAY_FILE);

/** The overlay's settings, {} when there is none, or what is wrong with the file. */
export function readOverlay(dataDir: string): { values: Record<string, unknown> } | { problem: string } {
  const path = overlayPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { values: {} };
    return { problem: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return { values: parsed as Record<string, unknown> };
  } catch {
    // Named below, as a torn write or a hand edit gone wrong.
  }
  return { problem: `${path} must hold a JSON object of settings (delete it to drop the remote changes)` };
}

/** Replaces the overlay durably: a temporary file, fsynced, renamed over the old one, and
 * the directory fsynced, so a crash leaves the old overlay or the new one, never half. */
export async function writeOverlay(dataDir: string, values: Readonly<Record<string, unknown>>): Promise<void> {
  const path = overlayPath(dataDir);
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(values, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const directory = await open(dataDir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
