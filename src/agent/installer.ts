// The install of a verified image (DESIGN §5, §7, §8) as a persisted state machine:
//
//   writing ──> switched-unverified ──> committed                          (installed)
//      │                 ├──> rolling-back ──> rolled-back                  (rolled_back)
//      │                 └──> awaiting-reboot ──> rebooted-unverified ──> committed
//      │                            │                     └──> rolling-back ──> awaiting-reboot-back ──> rolled-back
//      │                            └──> rolling-back
//      └──> abandoned                                                       (failed, nothing switched)
//
// Each phase is flushed to LMDB before the step it names starts, so after a crash the
// record says what may have happened. `writing` only touches the inactive slot: after a
// crash it is simply done again. Past the switch, a restart rolls back instead of checking
// the new version again: a crash during an unverified run is the failure a health check
// exists to catch (a new image that takes the agent or the machine down), re-verifying
// could loop on it, and a bootloader's A/B fallback behaves the same way (an unconfirmed
// slot that does not come up is left). The commit (phase, state `installed` and the
// committed slot) is one LMDB transaction: there is no state in between.
//
// An install system that boots the new slot (RAUC, SWUpdate) asks for a reboot: the record
// says `awaiting-reboot` (with the system's slot, `target`) before reboot_command runs, and
// the next start finds it, checks the booted slot and the health, then commits (mark-good)
// or rolls back, rebooting once more when the device runs the new slot. Phases only move
// forward and each reboot is counted in the record first, so there are at most MAX_REBOOTS.

import type { AgentStore, InstallPhase, InstallProgress, SlotsRecord } from './store.js';
import type { Clock } from '../protocol/interfaces.js';
import { IllegalTransitionError } from './errors.js';
import { checkInstalledHealth, type HealthCheckOptions } from './health-check.js';
import type { Activation, BootedSlot, InstallAdapter, SlotImage, StopToken } from './interfaces.js';
import { checkNewer } from './manifest-check.js';
import { rebootAndWait } from './reboot.js';
import { otherSlot, type SlotDirectory } from './slots.js';
import type { UpdateMachine } from './update-machine.js';
import { sha256Of, verifyFile } from './downloader.js';

const PHASE_MOVES: Readonly<Record<InstallPhase, readonly InstallPhase[]>> = {
  writing: ['writing', 'switched-unverified', 'abandoned'],
  'switched-unverified': ['committed', 'rolling-back', 'awaiting-reboot'],
  'awaiting-reboot': ['rebooted-unverified', 'rolling-back'],
  'rebooted-unverified': ['committed', 'rolling-back'],
  'rolling-back': ['rolled-back', 'awaiting-reboot-back'],
  'awaiting-reboot-back': ['rolled-back'],
  committed: [],
  'rolled-back': [],
  abandoned: [],
};

/** Slot writes started (crash, retry) before the install is given up. */
const MAX_WRITE_ATTEMPTS = 3;
/** Into the new slot, and back out of it. */
export const MAX_REBOOTS = 2;

export const INTERRUPTED_REASON = 'interrupted after the switch, before the health check passed (agent restarted): rolled back';

export interface InstallerDeps {
  readonly slots: SlotDirectory;
  readonly adapter: InstallAdapter;
  readonly store: AgentStore;
  readonly healthCheck: HealthCheckOptions;
  /** The committed version (initial_version while no slot is committed). */
  readonly installedVersion: () => string;
  readonly reboot: { readonly command: string; readonly timeoutMs: number };
  /** A stop request ends the wait for a reboot (the reboot itself stops the agent). */
  readonly stop: StopToken;
  readonly clock: Clock;
}

/** After a step: go on with the phase now recorded, or return (the agent stops for a reboot). */
type Step = 'next' | 'stop';

export class Installer {
  readonly #deps: InstallerDeps;

  constructor(deps: InstallerDeps) {
    this.#deps = deps;
  }

  /** Runs or continues the install of an update in 'installing', to a terminal state or to
   * the stop a reboot brings (or, after a crash past the switch, call `recover` first). */
  async run(machine: UpdateMachine): Promise<void> {
    for (let step: Step = 'next'; step === 'next';) {
      const install = machine.record.install ?? this.#fresh();
      switch (install.phase) {
        case 'writing': {
          const reason = await this.#write(machine, install);
          if (reason !== undefined) await this.#finish(machine, 'abandoned', 'failed', reason);
          break;
        }
        case 'switched-unverified':
          step = await this.#activate(machine, install);
          break;
        // Found at the start after the reboot: the run that rebooted ended on the stop.
        case 'awaiting-reboot':
          await this.#afterReboot(machine, install);
          break;
        case 'rebooted-unverified':
          await this.#startRollBack(machine, install, INTERRUPTED_REASON);
          break;
        case 'rolling-back':
          step = await this.#rollBack(machine, install);
          break;
        case 'awaiting-reboot-back':
          await this.#afterRebootBack(machine, install);
          break;
        case 'committed':
        case 'rolled-back':
        case 'abandoned':
          step = 'stop';
          break;
      }
    }
  }

  /** At start, for an update left in 'installing': past the switch, roll back (see the
   * file comment); before it, make sure `current` is the committed slot and leave the
   * write to be done again. What needs a reboot, or follows one, is left to `run`. */
  async recover(machine: UpdateMachine): Promise<void> {
    const install = machine.record.install;
    if (install === null || install.phase === 'writing') {
      await this.#deps.slots.switchTo(install?.from ?? this.#deps.store.slots().committed);
      return;
    }
    switch (install.phase) {
      case 'switched-unverified':
        machine.log.warn({ phase: install.phase }, 'restarted during an unverified install: rolling back');
        await this.#phase(machine, { ...install, reason: INTERRUPTED_REASON }, 'rolling-back');
        await this.#rollBack(machine, machine.record.install!);
        return;
      case 'rebooted-unverified':
        machine.log.warn({ phase: install.phase }, 'restarted during the check after the reboot: rolling back');
        await this.#phase(machine, { ...install, reason: INTERRUPTED_REASON }, 'rolling-back');
        return;
      case 'rolling-back':
        if (install.bootedNew !== true) await this.#rollBack(machine, install);
        return;
      case 'awaiting-reboot':
      case 'awaiting-reboot-back':
        return;
      // The phase and the state are written together; these only show a record from an
      // older layout, and the state follows the phase.
      case 'committed':
        await machine.transition('installed', { progress: 1 });
        return;
      case 'rolled-back':
        await machine.transition('rolled_back', { error: install.reason ?? 'rolled back' });
        return;
      case 'abandoned':
        await machine.transition('failed', { error: install.reason ?? 'install abandoned' });
        return;
    }
  }

  /** The new slot is `current`: the adapter makes it run (or asks for the reboot that will),
   * then the health check decides. */
  async #activate(machine: UpdateMachine, switched: InstallProgress): Promise<Step> {
    let install = switched;
    const image = this.#image(machine, install);
    let activation: Activation;
    try {
      if (install.target === undefined) {
        const target = await this.#deps.adapter.target();
        if (!target.ok) {
          await this.#startRollBack(machine, { ...install, target: null }, target.reason);
          return 'next';
        }
        await machine.save({ install: { ...install, target: target.slot } });
        install = machine.record.install!;
      }
      activation = await this.#deps.adapter.activate(image, install.target ?? null);
    } catch (error) {
      activation = { kind: 'failed', reason: `install failed: ${(error as Error).message}` };
    }
    switch (activation.kind) {
      case 'failed':
        await this.#startRollBack(machine, install, activation.reason);
        return 'next';
      case 'running':
        await this.#checkAndCommit(machine, install, image);
        return 'next';
      case 'reboot': {
        machine.log.info({ target: install.target }, 'installed; rebooting into the new slot');
        const failure = await this.#reboot(machine, install, 'awaiting-reboot');
        if (failure === undefined) return 'stop';
        await this.#startRollBack(machine, machine.record.install!, failure);
        return 'next';
      }
    }
  }

  /** After the reboot into the new slot: the booted slot must be it, then the health check. */
  async #afterReboot(machine: UpdateMachine, install: InstallProgress): Promise<void> {
    const booted = await this.#booted();
    if (!booted.ok) {
      await this.#startRollBack(machine, install, `after the reboot: ${booted.reason}`);
    } else if (booted.slot !== install.target) {
      await this.#startRollBack(machine, install, `after the reboot the device runs slot ${booted.slot}, not the new ${install.target ?? '?'}: the bootloader fell back`);
    } else if (!booted.good) {
      await this.#startRollBack(machine, { ...install, bootedNew: true }, `after the reboot slot ${booted.slot} is marked bad`);
    } else {
      machine.log.info({ slot: booted.slot }, 'rebooted into the new slot');
      await this.#phase(machine, { ...install, bootedNew: true }, 'rebooted-unverified');
      await this.#checkAndCommit(machine, machine.record.install!, this.#image(machine, install));
    }
  }

  /** After the reboot back: the device should run the old slot again. */
  async #afterRebootBack(machine: UpdateMachine, install: InstallProgress): Promise<void> {
    const reason = install.reason ?? 'rolled back';
    const booted = await this.#booted();
    if (booted.ok && booted.slot !== install.target) {
      machine.log.info({ slot: booted.slot }, 'switched back to the old slot');
      await this.#finish(machine, 'rolled-back', 'rolled_back', reason);
      return;
    }
    const now = booted.ok ? `the device still runs slot ${booted.slot}, marked bad: the old slot boots next` : booted.reason;
    machine.log.error({ reason: now }, 'after the reboot back');
    await this.#finish(machine, 'rolled-back', 'rolled_back', `${reason}; after the reboot back: ${now}`);
  }

  async #checkAndCommit(machine: UpdateMachine, install: InstallProgress, image: SlotImage): Promise<void> {
    let reason: string | undefined;
    try {
      reason = await checkInstalledHealth(this.#deps.healthCheck, this.#deps.slots.currentPath, image, sha256Of(machine.record.manifest!));
      // The install system keeps the new slot only once it is told to (RAUC's mark-good);
      // until then its bootloader would leave it at the next boot.
      if (reason === undefined && install.target != null) {
        const problem = await this.#deps.adapter.commit(install.target);
        if (problem !== undefined) reason = `cannot commit the new slot: ${problem}`;
      }
    } catch (error) {
      reason = `install failed: ${(error as Error).message}`;
    }
    if (reason === undefined) await this.#commit(machine, install, image);
    else await this.#startRollBack(machine, install, reason);
  }

  async #startRollBack(machine: UpdateMachine, install: InstallProgress, reason: string): Promise<void> {
    machine.log.warn({ reason }, 'new version failed: rolling back');
    await this.#phase(machine, { ...install, reason }, 'rolling-back');
  }

  /** Persists `phase` with one more reboot counted, then reboots: undefined when the agent
   * is stopping for it, else why it did not happen. */
  async #reboot(machine: UpdateMachine, install: InstallProgress, phase: 'awaiting-reboot' | 'awaiting-reboot-back'): Promise<string | undefined> {
    const reboots = install.reboots ?? 0;
    if (reboots >= MAX_REBOOTS) return `not rebooted: ${reboots} reboots for this install already`;
    await this.#phase(machine, { ...install, reboots: reboots + 1 }, phase);
    const outcome = await rebootAndWait({ ...this.#deps.reboot, stop: this.#deps.stop, clock: this.#deps.clock });
    return outcome.kind === 'stopping' ? undefined : outcome.reason;
  }

  async #booted(): Promise<BootedSlot> {
    try {
      return await this.#deps.adapter.booted();
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  }

  #fresh(): InstallProgress {
    const from = this.#deps.store.slots().committed;
    return { phase: 'writing', from, to: otherSlot(from), attempts: 0, reason: null };
  }

  /** Writes the inactive slot and switches `current` to it; a reason when it could not. */
  async #write(machine: UpdateMachine, install: InstallProgress): Promise<string | undefined> {
    const manifest = machine.record.manifest!;
    if (install.attempts >= MAX_WRITE_ATTEMPTS) return `install failed: slot ${install.to} not written after ${install.attempts} attempts`;
    const older = checkNewer(manifest, this.#deps.installedVersion());
    if (older !== undefined) return `refused: ${older}`;
    const source = machine.record.download?.path;
    if (source === undefined) return 'install failed: the downloaded image is gone';
    await this.#phase(machine, { ...install, attempts: install.attempts + 1 }, 'writing');
    try {
      await this.#deps.slots.write(install.to, source, manifest.version);
    } catch (error) {
      return `install failed: cannot write slot ${install.to}: ${(error as Error).message}`;
    }
    // What `current` will point at is exactly the signed image, whatever happened to the
    // download file since it was verified (a long 5.03 wait, a restart).
    const problem = await verifyFile(this.#deps.slots.imagePath(install.to), manifest.size, sha256Of(manifest));
    if (problem !== undefined) return `install failed: slot ${install.to}: ${problem}`;
    // The intent first: a crash right after the rename must be seen as "switched".
    await this.#phase(machine, machine.record.install!, 'switched-unverified');
    await this.#deps.slots.switchTo(install.to);
    machine.log.info({ slot: install.to, version: manifest.version }, 'switched to the new slot');
    return undefined;
  }

  async #commit(machine: UpdateMachine, install: InstallProgress, image: SlotImage): Promise<void> {
    const slots: SlotsRecord = { committed: install.to, version: image.version, updateId: machine.updateId };
    this.#check(install.phase, 'committed');
    await machine.transition('installed', { progress: 1, error: null, install: { ...install, phase: 'committed' }, slots });
  }

  async #rollBack(machine: UpdateMachine, install: InstallProgress): Promise<Step> {
    const reason = install.reason ?? 'rolled back';
    await this.#deps.slots.switchTo(install.from);
    const committed = this.#deps.store.slots();
    const previous = install.from === null ? undefined
      : this.#deps.slots.image(install.from, committed.version ?? this.#deps.installedVersion(), committed.updateId ?? undefined);
    let revert: { problem: string | undefined; reboot: boolean };
    try {
      revert = await this.#deps.adapter.revert({
        failed: this.#image(machine, install), previous, target: install.target ?? null, bootedNew: install.bootedNew === true,
      });
    } catch (error) {
      revert = { problem: (error as Error).message, reboot: false };
    }
    if (revert.problem !== undefined) machine.log.error({ reason: revert.problem }, 'rollback command failed; current points to the old slot');
    const why = revert.problem === undefined ? reason : `${reason}; ${revert.problem}`;
    if (revert.reboot) {
      machine.log.info({ target: install.target }, 'rebooting back into the old slot');
      const failure = await this.#reboot(machine, { ...install, reason: why }, 'awaiting-reboot-back');
      if (failure === undefined) return 'stop';
      machine.log.error({ reason: failure }, 'no reboot back into the old slot');
      await this.#finish(machine, 'rolled-back', 'rolled_back', `${why}; ${failure}: the old slot boots next`);
      return 'next';
    }
    machine.log.info({ slot: install.from }, 'switched back to the old slot');
    await this.#finish(machine, 'rolled-back', 'rolled_back', why);
    return 'next';
  }

  async #finish(machine: UpdateMachine, phase: 'rolled-back' | 'abandoned', state: 'rolled_back' | 'failed', reason: string): Promise<void> {
    const install = machine.record.install ?? this.#fresh();
    this.#check(install.phase, phase);
    await machine.transition(state, { error: reason, install: { ...install, phase, reason } });
  }

  async #phase(machine: UpdateMachine, install: InstallProgress, to: InstallPhase): Promise<void> {
    this.#check(machine.record.install?.phase ?? 'writing', to);
    if (machine.record.install?.phase !== to) machine.log.info({ from: machine.record.install?.phase ?? null, to }, `install ${machine.record.install?.phase ?? 'start'} -> ${to}`);
    await machine.save({ install: { ...install, phase: to } });
  }

  #check(from: InstallPhase, to: InstallPhase): void {
    if (!PHASE_MOVES[from].includes(to)) throw new IllegalTransitionError('install phase', from, to);
  }

  #image(machine: UpdateMachine, install: InstallProgress): SlotImage {
    return this.#deps.slots.image(install.to, machine.record.manifest!.version, machine.updateId);
  }
}
