// The install of a verified image (DESIGN §5, §7, §8) as a persisted state machine:
//
//   writing ──> switched-unverified ──> committed                 (installed)
//      │                 └──> rolling-back ──> rolled-back         (rolled_back)
//      └──> abandoned                                              (failed, nothing switched)
//
// Each phase is flushed to LMDB before the step it names starts, so after a crash the
// record says what may have happened. `writing` only touches the inactive slot: after a
// crash it is simply done again. Past the switch, a restart rolls back instead of checking
// the new version again: a crash during an unverified run is the failure a health check
// exists to catch (a new image that takes the agent or the machine down), re-verifying
// could loop on it, and a bootloader's A/B fallback behaves the same way (an unconfirmed
// slot that does not come up is left). The commit (phase, state `installed` and the
// committed slot) is one LMDB transaction: there is no state in between.

import type { AgentStore, InstallPhase, InstallProgress, SlotsRecord } from './store.js';
import { IllegalTransitionError } from './errors.js';
import { checkInstalledHealth, type HealthCheckOptions } from './health-check.js';
import type { InstallAdapter, SlotImage } from './interfaces.js';
import { checkNewer } from './manifest-check.js';
import { otherSlot, type SlotDirectory } from './slots.js';
import type { UpdateMachine } from './update-machine.js';
import { sha256Of, verifyFile } from './downloader.js';

const PHASE_MOVES: Readonly<Record<InstallPhase, readonly InstallPhase[]>> = {
  writing: ['writing', 'switched-unverified', 'abandoned'],
  'switched-unverified': ['committed', 'rolling-back'],
  'rolling-back': ['rolled-back'],
  committed: [],
  'rolled-back': [],
  abandoned: [],
};

/** Slot writes started (crash, retry) before the install is given up. */
const MAX_WRITE_ATTEMPTS = 3;

export const INTERRUPTED_REASON = 'interrupted after the switch, before the health check passed (agent restarted): rolled back';

export interface InstallerDeps {
  readonly slots: SlotDirectory;
  readonly adapter: InstallAdapter;
  readonly store: AgentStore;
  readonly healthCheck: HealthCheckOptions;
  /** The committed version (initial_version while no slot is committed). */
  readonly installedVersion: () => string;
}

export class Installer {
  readonly #deps: InstallerDeps;

  constructor(deps: InstallerDeps) {
    this.#deps = deps;
  }

  /** Runs or continues the install of an update in 'installing', to a terminal state
   * (or, after a crash past the switch, call `recover` instead). */
  async run(machine: UpdateMachine): Promise<void> {
    let install = machine.record.install ?? this.#fresh();
    if (install.phase === 'writing') {
      const reason = await this.#write(machine, install);
      if (reason !== undefined) {
        await this.#finish(machine, 'abandoned', 'failed', reason);
        return;
      }
      install = machine.record.install!;
    }
    if (install.phase === 'switched-unverified') {
      const image = this.#image(machine, install);
      const reason = await this.#activateAndCheck(machine, image);
      if (reason === undefined) {
        await this.#commit(machine, install, image);
        return;
      }
      machine.log.warn({ reason }, 'new version failed: rolling back');
      await this.#phase(machine, { ...install, reason }, 'rolling-back');
      install = machine.record.install!;
    }
    if (install.phase === 'rolling-back') await this.#rollBack(machine, install);
  }

  /** At start, for an update left in 'installing': past the switch, roll back (see the
   * file comment); before it, make sure `current` is the committed slot and leave the
   * write to be done again. */
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
      case 'rolling-back':
        await this.#rollBack(machine, install);
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

  async #activateAndCheck(machine: UpdateMachine, image: SlotImage): Promise<string | undefined> {
    try {
      const failed = await this.#deps.adapter.activate(image);
      if (failed !== undefined) return failed;
      return await checkInstalledHealth(this.#deps.healthCheck, this.#deps.slots.currentPath, image, sha256Of(machine.record.manifest!));
    } catch (error) {
      return `install failed: ${(error as Error).message}`;
    }
  }

  async #commit(machine: UpdateMachine, install: InstallProgress, image: SlotImage): Promise<void> {
    const slots: SlotsRecord = { committed: install.to, version: image.version, updateId: machine.updateId };
    this.#check(install.phase, 'committed');
    await machine.transition('installed', { progress: 1, error: null, install: { ...install, phase: 'committed' }, slots });
  }

  async #rollBack(machine: UpdateMachine, install: InstallProgress): Promise<void> {
    const reason = install.reason ?? 'rolled back';
    await this.#deps.slots.switchTo(install.from);
    const committed = this.#deps.store.slots();
    const previous = install.from === null ? undefined
      : this.#deps.slots.image(install.from, committed.version ?? this.#deps.installedVersion(), committed.updateId ?? undefined);
    let revertProblem: string | undefined;
    try {
      revertProblem = await this.#deps.adapter.revert(this.#image(machine, install), previous);
    } catch (error) {
      revertProblem = (error as Error).message;
    }
    if (revertProblem !== undefined) machine.log.error({ reason: revertProblem }, 'rollback command failed; current points to the old slot');
    machine.log.info({ slot: install.from }, 'switched back to the old slot');
    await this.#finish(machine, 'rolled-back', 'rolled_back', revertProblem === undefined ? reason : `${reason}; ${revertProblem}`);
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
