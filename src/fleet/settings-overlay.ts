// Settings a daemon was told to change at run time (the agent's signed config.set, the
// gateway's PUT /system/config), kept in a JSON file in its data_dir so they survive a
// restart: the agent's remote-settings.json, the gateway's config-overlay.json. A file
// rather than LMDB: the config loader reads it before the store is checked and opened
// (data_dir itself comes from the configuration), and an operator on the machine can read
// or delete it. The loader lays it over the config file, under the environment and flags
// (config-layers.ts).

import { readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The overlay's settings, {} when there is no file, or what is wrong with the file (a torn
 * write or a hand edit gone wrong): the daemon names it and stops, losing nothing. */
export function readSettingsOverlay(path: string): { values: Record<string, unknown> } | { problem: string } {
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
    // Named below.
  }
  return { problem: `${path} (settings changed at run time) must hold a JSON object; delete it to start without them` };
}

/** Replaces the overlay durably: a temporary file, fsynced, renamed over the old one, and
 * the directory fsynced, so a crash leaves the old overlay or the new one, never half. */
export async function writeSettingsOverlay(path: string, values: Readonly<Record<string, unknown>>): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(values, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  await syncDirectory(dirname(path));
}

/** fsync of a directory: a rename or a new file in it survives a crash. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
