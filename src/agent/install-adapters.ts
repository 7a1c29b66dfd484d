// The install adapters (DESIGN §8). `slots`: the directory A/B scheme needs nothing past
// the switch of `current`, which is what the device runs. `command`: after the switch an
// operator's command installs the slot's image for real (RAUC, SWUpdate, a script), with
// IMAGE_PATH, VERSION, UPDATE_ID and SLOT_PATH; exit 0 means installed. On roll-back an
// optional command gets the same variables for the slot switched back to.

import type { AgentConfig } from './config.js';
import type { InstallAdapter, SlotImage } from './interfaces.js';
import { describeFailure, runCommand } from './run-command.js';

export function createInstallAdapter(config: AgentConfig): InstallAdapter {
  if (config.installAdapter === 'slots') return directoryAdapter;
  return commandAdapter(config.installCommand!, config.rollbackCommand, config.installTimeoutMs);
}

const directoryAdapter: InstallAdapter = {
  name: 'slots',
  activate: () => Promise.resolve(undefined),
  revert: () => Promise.resolve(undefined),
};

export const imageEnvironment = (image: SlotImage): Record<string, string> => ({
  IMAGE_PATH: image.imagePath, VERSION: image.version, UPDATE_ID: image.updateId ?? '', SLOT_PATH: image.slotPath,
});

function commandAdapter(installCommand: string, rollbackCommand: string | undefined, timeoutMs: number): InstallAdapter {
  return {
    name: 'command',
    async activate(image) {
      const result = await runCommand(installCommand, { env: imageEnvironment(image), timeoutMs });
      return result.ok ? undefined : describeFailure('install command', result, timeoutMs);
    },
    async revert(failed, previous) {
      if (rollbackCommand === undefined) return undefined;
      const env = {
        ...(previous === undefined ? { IMAGE_PATH: '', VERSION: '', UPDATE_ID: '', SLOT_PATH: '' } : imageEnvironment(previous)),
        FAILED_VERSION: failed.version, FAILED_UPDATE_ID: failed.updateId ?? '',
      };
      const result = await runCommand(rollbackCommand, { env, timeoutMs });
      return result.ok ? undefined : describeFailure('rollback command', result, timeoutMs);
    },
  };
}
