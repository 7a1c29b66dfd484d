// The SWUpdate install adapter (DESIGN §8, issue 13), for SWUpdate's double-copy scheme
// ("Update strategy examples" of its documentation) on U-Boot's environment. What we rely on:
//   swupdate -i IMAGE -e SET,MODE     installs IMAGE, selecting the software set and mode of
//                                     its sw-description: MODE is the copy to write, copy1 or
//                                     copy2 (meta-swupdate's names), the one not booted
//   fw_printenv -n NAME               prints one variable of the bootloader environment
//   fw_setenv NAME VALUE              sets it (libubootenv)
// The sw-description's bootenv section of each copy sets `swupdate_boot_variable` to that
// copy and arms U-Boot's boot counting (upgrade_available=1, bootcount=0); when the new copy
// does not come up within bootlimit tries, U-Boot's altbootcmd sets the variable back to the
// old copy. So after a reboot the variable names the copy that booted. SWUpdate itself has no
// mark-good: the commit is `fw_setenv upgrade_available 0`, which ends the boot counting, and
// a roll-back sets the variable to the old copy (and disarms the counting) before a reboot.

import type { Activation, BootedSlot, InstallAdapter, RevertRequest, TargetSlot } from './interfaces.js';
import { describeProgramFailure, runProgram } from './run-program.js';

export const SWUPDATE_COPIES = ['copy1', 'copy2'] as const;
const OUTPUT_MAX_BYTES = 64 * 1024;

export interface SwupdateOptions {
  /** The software set of the sw-description (`-e SET,copyN`). */
  readonly softwareSet: string;
  /** The bootloader variable that names the copy to boot. */
  readonly bootVariable: string;
  readonly timeoutMs: number;
}

export function swupdateAdapter(options: SwupdateOptions): InstallAdapter {
  const { softwareSet, bootVariable, timeoutMs } = options;
  const run = async (program: string, args: string[]): Promise<{ stdout: string } | { problem: string }> => {
    const result = await runProgram(program, args, { timeoutMs, maxOutputBytes: OUTPUT_MAX_BYTES });
    if (result.exitCode === 0 && !result.timedOut && !result.overflowed) return { stdout: result.stdout.toString('utf8').trim() };
    return { problem: describeProgramFailure(program === 'swupdate' ? 'swupdate' : `${program} ${args.at(-2) ?? ''} ${args.at(-1) ?? ''}`.trimEnd(), result, timeoutMs) };
  };
  const bootedCopy = async (): Promise<{ copy: string } | { problem: string }> => {
    const out = await run('fw_printenv', ['-n', bootVariable]);
    if ('problem' in out) return out;
    return isCopy(out.stdout) ? { copy: out.stdout } : { problem: `bootloader variable ${bootVariable} is "${out.stdout}", not ${SWUPDATE_COPIES.join(' or ')}` };
  };
  const setenv = async (...pairs: (readonly [string, string])[]): Promise<string | undefined> => {
    const problems: string[] = [];
    for (const [name, value] of pairs) {
      const out = await run('fw_setenv', [name, value]);
      if ('problem' in out) problems.push(out.problem);
    }
    return problems.length === 0 ? undefined : problems.join('; ');
  };
  return {
    name: 'swupdate',
    async target(): Promise<TargetSlot> {
      const booted = await bootedCopy();
      return 'problem' in booted ? { ok: false, reason: booted.problem } : { ok: true, slot: otherCopy(booted.copy) };
    },
    async activate(image, target): Promise<Activation> {
      if (target === null) return { kind: 'failed', reason: 'swupdate: no copy to install to' };
      const installed = await run('swupdate', ['-i', image.imagePath, '-e', `${softwareSet},${target}`]);
      return 'problem' in installed ? { kind: 'failed', reason: installed.problem } : { kind: 'reboot' };
    },
    async booted(): Promise<BootedSlot> {
      const booted = await bootedCopy();
      return 'problem' in booted ? { ok: false, reason: booted.problem } : { ok: true, slot: booted.copy, good: true };
    },
    commit: () => setenv(['upgrade_available', '0']),
    async revert(request: RevertRequest) {
      if (request.target === null) return { problem: undefined, reboot: false };
      // Whichever copy runs now, the old one boots next and the counting ends; only a device
      // running the new copy has to reboot for it.
      const problem = await setenv([bootVariable, otherCopy(request.target)], ['upgrade_available', '0']);
      return { problem, reboot: request.bootedNew };
    },
  };
}

const isCopy = (value: string): value is (typeof SWUPDATE_COPIES)[number] => (SWUPDATE_COPIES as readonly string[]).includes(value);

const otherCopy = (copy: string): string => (copy === 'copy1' ? 'copy2' : 'copy1');
