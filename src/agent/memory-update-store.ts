// A simulated node's update records (interfaces.ts UpdateStore) in memory: the simulator
// runs thousands of nodes in one process, where an LMDB environment each would cost a
// file, a map and an fsync per write. Nothing survives the process, which is all a
// virtual node needs. Bounded by the updates offered to the node, as the agent's store is.

import type { NodeUpdateState } from '../fleet/update-state.js';
import type { UpdateStore } from './interfaces.js';
import type { NodeUpdateRecord, SlotsRecord } from './store.js';

const NO_SLOTS: SlotsRecord = { committed: null, version: null, updateId: null };

export class MemoryUpdateStore implements UpdateStore {
  /** By update id, in insertion order (the agent's store lists in key order; the work
   * order of NodeUpdates does not depend on it). */
  readonly #updates = new Map<string, NodeUpdateRecord>();
  readonly #reported = new Map<string, NodeUpdateState>();
  #slots: SlotsRecord = NO_SLOTS;

  update(updateId: string): NodeUpdateRecord | undefined {
    return this.#updates.get(updateId);
  }

  updates(): NodeUpdateRecord[] {
    return [...this.#updates.values()];
  }

  slots(): SlotsRecord {
    return this.#slots;
  }

  async saveUpdate(record: NodeUpdateRecord, slots?: SlotsRecord): Promise<void> {
    this.#updates.set(record.updateId, record);
    if (slots !== undefined) this.#slots = slots;
  }

  reportedState(updateId: string): NodeUpdateState | undefined {
    return this.#reported.get(updateId);
  }

  async markReported(updateId: string, state: NodeUpdateState): Promise<void> {
    this.#reported.set(updateId, state);
  }
}
