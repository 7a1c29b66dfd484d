// The RAUC install adapter (DESIGN §8, issue 13). The downloaded image is the bundle. What we
// rely on of RAUC's command line (rauc(1), rauc.readthedocs.io "Reference"):
//   rauc install BUNDLE                  writes the other slot and makes it the primary; the
//                                        bundle's name must end in .raucb
//   rauc status --output-format=json     booted and primary slots (rauc-status.ts)
//   rauc status mark-good|mark-bad|mark-active booted|other|SLOT
// A rootfs bundle runs only after a reboot, so activation always asks for one. Every call is
// an argv (no shell) bounded by install_timeout_s.

import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Activation, BootedSlot, InstallAdapter, RevertRequest, TargetSlot } from './interfaces.js';
import { parseRaucStatus, type RaucStatus } from './rauc-status.js';
import { describeProgramFailure, runProgram } from './run-program.js';

const STATUS_MAX_BYTES = 64 * 1024;
/** A link to the slot's image.bin: RAUC refuses a bundle whose name lacks the suffix. */
const BUNDLE_NAME = 'bundle.raucb';

export function raucAdapter(timeoutMs: number): InstallAdapter {
  const rauc = async (...args: string[]): Promise<{ stdout: string } | { problem: string }> => {
    const result = await runProgram('rauc', args, { timeoutMs, maxOutputBytes: STATUS_MAX_BYTES });
    if (result.exitCode === 0 && !result.timedOut && !result.overflowed) return { stdout: result.stdout.toString('utf8') };
    return { problem: describeProgramFailure(`rauc ${args[0] === 'status' ? args.slice(0, 2).join(' ') : args[0]}`, result, timeoutMs) };
  };
  const status = async (): Promise<RaucStatus | string> => {
    const out = await rauc('status', '--output-format=json');
    return 'problem' in out ? out.problem : parseRaucStatus(out.stdout);
  };
  /** Runs the marks in order, all of them; the problems joined, or undefined. */
  const mark = async (...marks: (readonly [string, string])[]): Promise<string | undefined> => {
    const problems: string[] = [];
    for (const [how, slot] of marks) {
      const out = await rauc('status', how, slot);
      if ('problem' in out) problems.push(out.problem);
    }
    return problems.length === 0 ? undefined : problems.join('; ');
  };
  return {
    name: 'rauc',
    // RAUC writes the bootable slot not booted; with more than one such slot (a recovery
    // slot beside A and B) the agent cannot tell which in advance, and refuses.
    async target(): Promise<TargetSlot> {
      const now = await status();
      if (typeof now === 'string') return { ok: false, reason: now };
      if (now.booted === undefined) return { ok: false, reason: 'rauc status names no booted slot' };
      const others = now.slots.filter((slot) => slot.bootname !== null && slot.name !== now.booted!.name);
      if (others.length !== 1) return { ok: false, reason: `rauc status shows ${others.length} bootable slots besides the booted ${now.booted.name}, not one` };
      return { ok: true, slot: others[0]!.name };
    },
    async activate(image, target): Promise<Activation> {
      const bundle = join(image.slotPath, BUNDLE_NAME);
      await rm(bundle, { force: true });
      await symlink('image.bin', bundle);
      const installed = await rauc('install', bundle);
      if ('problem' in installed) return { kind: 'failed', reason: installed.problem };
      const after = await status();
      if (typeof after === 'string') return { kind: 'failed', reason: `after rauc install: ${after}` };
      // RAUC marks the slot it wrote primary: that is the one the reboot must come up in.
      if (after.primary !== target) return { kind: 'failed', reason: `after rauc install the primary slot is ${after.primary ?? 'unknown'}, not ${target ?? '?'}` };
      return { kind: 'reboot' };
    },
    async booted(): Promise<BootedSlot> {
      const now = await status();
      if (typeof now === 'string') return { ok: false, reason: now };
      if (now.booted === undefined) return { ok: false, reason: 'rauc status names no booted slot' };
      return { ok: true, slot: now.booted.name, good: now.booted.bootStatus !== 'bad' };
    },
    commit: () => mark(['mark-good', 'booted']),
    async revert(request: RevertRequest) {
      // Running the new slot: it is marked bad and the other one (the old) made primary, and
      // only a reboot leaves it. Not running it (it failed to install, the reboot never came,
      // the bootloader fell back): the booted slot is made primary again, the new one bad.
      if (request.bootedNew) return { problem: await mark(['mark-bad', 'booted'], ['mark-active', 'other']), reboot: true };
      const marks: (readonly [string, string])[] = request.target === null ? [] : [['mark-bad', request.target]];
      return { problem: await mark(...marks, ['mark-active', 'booted']), reboot: false };
    },
  };
}
