// The seams of the node agent: how a stop request reaches long-running work, and what an
// install adapter (DESIGN §8: the directory A/B scheme, a command hook for RAUC, SWUpdate
// or a script; RAUC and SWUpdate, which boot the new slot) must do. The slot bookkeeping
// itself lives in slots.ts.

import type { NodeUpdateState } from '../fleet/update-state.js';
import type { SystemSlots } from '../fleet/update-readiness.js';
import type { InstallAdapterName } from './config.js';
import type { NodeUpdateRecord, SlotsRecord } from './store.js';
import type { UpdateMachine } from './update-machine.js';

/** What a job checks between steps: `requested` as soon as SIGTERM arrives (end after the
 * current block, stop waiting); `hard` aborts requests still in flight after a grace time. */
export interface StopToken {
  readonly requested: boolean;
  /** Aborted at once on a stop request: for waits (5.03 Max-Age, retry back-off). */
  readonly soft: AbortSignal;
  /** Aborted after the grace time: for requests that would otherwise run to their timeout. */
  readonly hard: AbortSignal;
}

export type Slot = 'a' | 'b';

/** One slot's contents as an adapter sees them. */
export interface SlotImage {
  readonly slot: Slot;
  /** <data>/slots/<slot>: holds image.bin and version. */
  readonly slotPath: string;
  readonly imagePath: string;
  readonly version: string;
  /** The update that put it there; undefined for a slot from before the agent's records. */
  readonly updateId: string | undefined;
}

/** How an activation ended. `reboot`: the install system made the target slot the next
 * boot; the device runs the new version only after a reboot. */
export type Activation =
  | { readonly kind: 'running' }
  | { readonly kind: 'reboot' }
  | { readonly kind: 'failed'; readonly reason: string };

/** The install system's slot an install writes, in its own naming; null for an adapter
 * without slots of its own. */
export type TargetSlot = { readonly ok: true; readonly slot: string | null } | { readonly ok: false; readonly reason: string };

/** The slot the device booted, in the install system's naming; `good` false when the system
 * itself marks it bad. */
export type BootedSlot = { readonly ok: true; readonly slot: string; readonly good: boolean } | { readonly ok: false; readonly reason: string };

export interface RevertRequest {
  readonly failed: SlotImage;
  /** Undefined when no slot was committed before (the initial version). */
  readonly previous: SlotImage | undefined;
  /** The install system's slot installed to; null when unknown or none. */
  readonly target: string | null;
  /** The device runs the new slot (it rebooted into it). */
  readonly bootedNew: boolean;
}

/**
 * Makes the device run a slot after `current` was switched to it, or run the previous one
 * again. Each resolves with undefined (or its outcome) on success or with the reason of a
 * failure; none throws for an expected failure (a program's non-zero exit, a timeout).
 */
export interface InstallAdapter {
  readonly name: InstallAdapterName;
  /** Which slot the install will write: recorded before it starts, so that a crash
   * during it can be undone. */
  target(): Promise<TargetSlot>;
  activate(image: SlotImage, target: string | null): Promise<Activation>;
  /** After a reboot: which slot runs. Only for adapters whose activation asks for a reboot. */
  booted(): Promise<BootedSlot>;
  /** The new version passed its health check after a reboot: keep it (RAUC's mark-good). */
  commit(target: string): Promise<string | undefined>;
  /** Makes the previous version the one that boots; `reboot` when the device must reboot
   * to run it. */
  revert(request: RevertRequest): Promise<{ readonly problem: string | undefined; readonly reboot: boolean }>;
  /** What the install system says of its slots now, read-only (GET /update-readiness);
   * null for the adapters that have none of their own (the directory scheme, the hook). */
  inspect(): Promise<SystemSlots | null>;
}

/** The update records the update machine, the status reporter and NodeUpdates keep: the
 * agent's LMDB store (store.ts), or memory in a simulated node (memory-update-store.ts). */
export interface UpdateStore {
  update(updateId: string): NodeUpdateRecord | undefined;
  updates(): NodeUpdateRecord[];
  slots(): SlotsRecord;
  /** Stores the record (and the committed slot, in the same transaction) durably. */
  saveUpdate(record: NodeUpdateRecord, slots?: SlotsRecord): Promise<void>;
  /** The last terminal state the gateway acknowledged for this update. */
  reportedState(updateId: string): NodeUpdateState | undefined;
  markReported(updateId: string, state: NodeUpdateState): Promise<void>;
}

/** What NodeUpdates asks of an install: run one given the go, and finish one a crash
 * interrupted. The agent's Installer (installer.ts), or a simulated node's that writes no
 * slots (simulated-installer.ts). */
export interface UpdateInstaller {
  run(machine: UpdateMachine): Promise<void>;
  recover(machine: UpdateMachine): Promise<void>;
}
