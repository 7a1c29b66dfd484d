// The install adapters (DESIGN §8). `slots`: the directory A/B scheme needs nothing past
// the switch of `current`, which is what the device runs. `command`: after the switch an
// operator's command installs the slot's image for real (a script), with IMAGE_PATH,
// VERSION, UPDATE_ID and SLOT_PATH; exit 0 means installed. On roll-back an optional
// command gets the same variables for the slot switched back to. `rauc` and `swupdate`
// (install-rauc.ts, install-swupdate.ts) install into the system's other slot and ask for a
// reboot. Neither of the first two ever asks for one, so they have nothing to check after it.

import type { AgentConfig } from './config.js';
import type { BootedSlot, InstallAdapter, SlotImage, TargetSlot } from './interfaces.js';
import { raucAdapter } from './install-rauc.js';
import { swupdateAdapter } from './install-swupdate.js';
import { describeFailure, runCommand } from './run-command.js';

export function createInstallAdapter(config: AgentConfig): InstallAdapter {
  switch (config.installAdapter) {
    case 'slots':
      return directoryAdapter;
    case 'command':
      return commandAdapter(config.installCommand!, config.rollbackCommand, config.installTimeoutMs);
    case 'rauc':
      return raucAdapter(config.installTimeoutMs);
    case 'swupdate':
      return swupdateAdapter({ softwareSet: config.swupdateSoftwareSet, bootVariable: config.swupdateBootVariable, timeoutMs: config.installTimeoutMs });
  }
}

const NO_REBOOT: BootedSlot = { ok: false, reason: 'this install adapter never reboots' };
/** The directory slot is all there is. */
const NO_TARGET: TargetSlot = { ok: true, slot: null };

const directoryAdapter: InstallAdapter = {
  name: 'slots',
  target: () => Promise.resolve(NO_TARGET),
  activate: () => Promise.resolve({ kind: 'running' }),
  booted: () => Promise.resolve(NO_REBOOT),
  commit: () => Promise.resolve(undefined),
  revert: () => Promise.resolve({ problem: undefined, reboot: false }),
};

export const imageEnvironment = (image: SlotImage): Record<string, string> => ({
  IMAGE_PATH: image.imagePath, VERSION: image.version, UPDATE_ID: image.updateId ?? '', SLOT_PATH: image.slotPath,
});

function commandAdapter(installCommand: string, rollbackCommand: string | undefined, timeoutMs: number): InstallAdapter {
  return {
    name: 'command',
    target: () => Promise.resolve(NO_TARGET),
    async activate(image) {
      const result = await runCommand(installCommand, { env: imageEnvironment(image), timeoutMs });
      return result.ok ? { kind: 'running' } : { kind: 'failed', reason: describeFailure('install command', result, timeoutMs) };
    },
    booted: () => Promise.resolve(NO_REBOOT),
    commit: () => Promise.resolve(undefined),
    async revert({ failed, previous }) {
      if (rollbackCommand === undefined) return { problem: undefined, reboot: false };
      const env = {
        ...(previous === undefined ? { IMAGE_PATH: '', VERSION: '', UPDATE_ID: '', SLOT_PATH: '' } : imageEnvironment(previous)),
        FAILED_VERSION: failed.version, FAILED_UPDATE_ID: failed.updateId ?? '',
      };
      const result = await runCommand(rollbackCommand, { env, timeoutMs });
      return { problem: result.ok ? undefined : describeFailure('rollback command', result, timeoutMs), reboot: false };
    },
  };
}
