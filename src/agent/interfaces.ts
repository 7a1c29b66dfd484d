// The seams of the node agent: how a stop request reaches long-running work, and what an
// install adapter (DESIGN §8: the directory A/B scheme, a command hook for RAUC, SWUpdate
// or a script) must do. The slot bookkeeping itself lives in slots.ts.

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

/**
 * Makes the device run a slot after `current` was switched to it, or run the previous one
 * again. Both resolve with undefined on success or with the reason of a failure; neither
 * throws for an expected failure (a hook's non-zero exit, a timeout).
 */
export interface InstallAdapter {
  readonly name: 'slots' | 'command';
  activate(image: SlotImage): Promise<string | undefined>;
  /** `previous` is undefined when no slot was committed before (the initial version). */
  revert(failed: SlotImage, previous: SlotImage | undefined): Promise<string | undefined>;
}
