// A simulated node's install (interfaces.ts UpdateInstaller): no slot is written and
// nothing runs; the update machine moves as the agent's Installer would move it, to
// `installed` with the other slot committed, or to `failed` for the nodes the simulator
// picked to fail (its --fail-rate), so a rollout's failure handling can be exercised.

import { createHash } from 'node:crypto';
import type { UpdateInstaller, UpdateStore } from './interfaces.js';
import type { UpdateMachine } from './update-machine.js';

export const SIMULATED_FAILURE = 'install failed: simulated failure';

export class SimulatedInstaller implements UpdateInstaller {
  readonly #store: UpdateStore;
  readonly #fails: (updateId: string) => boolean;

  /** `fails(updateId)`: whether this node's install of that update fails. */
  constructor(store: UpdateStore, fails: (updateId: string) => boolean) {
    this.#store = store;
    this.#fails = fails;
  }

  async run(machine: UpdateMachine): Promise<void> {
    const manifest = machine.record.manifest;
    if (manifest === null || this.#fails(machine.updateId)) {
      await machine.transition('failed', { error: SIMULATED_FAILURE });
      return;
    }
    const to = this.#store.slots().committed === 'a' ? 'b' : 'a';
    await machine.transition('installed', { progress: 1, error: null, slots: { committed: to, version: manifest.version, updateId: machine.updateId } });
  }

  /** Nothing is interrupted in memory: an install the process left is simply run again. */
  recover(machine: UpdateMachine): Promise<void> {
    return this.run(machine);
  }
}

/** Whether a node is one of the share `rate` picked to fail an update: a hash of both ids,
 * so the same nodes fail in every run and whichever worker runs them. */
export function pickedToFail(nodeId: string, updateId: string, rate: number): boolean {
  if (rate <= 0) return false;
  const digest = createHash('sha256').update(`${nodeId}/${updateId}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32 < rate;
}
