// Where PUT /system/config keeps what it changed: `config-overlay.json` in data_dir, a JSON
// object of settings that the loader lays over the config file at every start (under the
// environment and the flags, which the service manager's unit sets on purpose). A file of
// its own rather than the config file (which may be read-only, shared, or under
// configuration management) or LMDB (the overlay must be read before the store is checked
// and opened, and an operator can read, edit or delete it with any editor). Written to a
// temporary file, fsynced and renamed, so a crash leaves the old overlay or the new one.

import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import { syncDirectory } from './image-store.js';

export const OVERLAY_FILE = 'config-overlay.json';

export const overlayPath = (dataDir: string): string => join(dataDir, OVERLAY_FILE);

/** The overlay's settings; none when there is no file. A file that is not a JSON object
 * is a ConfigError naming it (the operator can delete it to start without). */
export async function readOverlay(dataDir: string): Promise<Record<string, unknown>> {
  const path = overlayPath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path} (settings changed through /system/config) is not valid JSON: ${(error as Error).message}; delete it to start without`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${path} must hold a JSON object; delete it to start without`);
  return parsed as Record<string, unknown>;
}

/** Replaces the overlay durably. */
export async function writeOverlay(dataDir: string, settings: Readonly<Record<string, unknown>>): Promise<void> {
  const path = overlayPath(dataDir);
  const temporary = `${path}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(settings, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await syncDirectory(dataDir);
}
