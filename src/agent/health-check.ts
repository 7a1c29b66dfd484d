// The check after the switch (DESIGN §5: "installed" means running and health-checked).
// With `health_check_command` the operator's command decides (exit 0 = healthy, within its
// time limit); without one the agent checks what it can itself: the running slot, reached
// through `current`, holds the signed image (sha256) and the signed version.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { imageEnvironment } from './install-adapters.js';
import type { SlotImage } from './interfaces.js';
import { describeFailure, runCommand } from './run-command.js';
import { sha256File } from '../fleet/sha256-file.js';

export interface HealthCheckOptions {
  readonly command: string | undefined;
  readonly timeoutMs: number;
}

/** Undefined when healthy, else the reason. `currentPath` is <slots>/current. */
export async function checkInstalledHealth(
  options: HealthCheckOptions, currentPath: string, image: SlotImage, sha256: string,
): Promise<string | undefined> {
  if (options.command !== undefined) {
    const result = await runCommand(options.command, {
      env: { ...imageEnvironment(image), IMAGE_PATH: join(currentPath, 'image.bin'), CURRENT_PATH: currentPath },
      timeoutMs: options.timeoutMs,
    });
    return result.ok ? undefined : describeFailure('health check', result, options.timeoutMs);
  }
  const version = await readFile(join(currentPath, 'version'), 'utf8').then((text) => text.trim(), () => undefined);
  if (version !== image.version) return `health check: running version ${version ?? 'unknown'}, expected ${image.version}`;
  let running: string;
  try {
    running = await sha256File(join(currentPath, 'image.bin'));
  } catch (error) {
    return `health check: cannot read the running image: ${(error as Error).message}`;
  }
  return running === sha256 ? undefined : 'health check: the running image does not match its sha256';
}
