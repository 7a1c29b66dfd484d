// GET /update-readiness of the agent, forwarded by the gateway as
// /nodes/{id}/update-readiness (issue 13, the dry run): whether the node could take an
// image of a given size now — its version, its room for the download and the slot copy,
// its slots as its install system sees them — and the problems that would fail an install.

/** Why an install would fail now: no room, a slot the install system calls unhealthy, or
 * an install already under way. */
export type ReadinessProblemKind = 'space' | 'slot' | 'busy';

export interface ReadinessProblem {
  readonly kind: ReadinessProblemKind;
  readonly message: string;
}

export interface SpaceFigures {
  /** statfs(2) of the data directory (downloads and slots): bytes an unprivileged writer
   * may still use. */
  readonly free_bytes: number;
  /** reserved_space_mb of the agent: the room the device keeps for its own work. */
  readonly reserved_bytes: number;
  /** free_bytes less reserved_bytes, at least 0. */
  readonly usable_bytes: number;
  /** The image size asked about (?size=N); null without it. */
  readonly image_bytes: number | null;
  /** What storing that image takes: the download, then its copy into the inactive slot,
   * whose old image is removed first; null without a size. */
  readonly needed_bytes: number | null;
}

/** What the install system says of its own slots (RAUC, SWUpdate). */
export interface SystemSlots {
  /** The slot the device runs, in the system's names (rootfs.0, copy1); null when unknown. */
  readonly booted: string | null;
  /** The slot an install would write; null when unknown. */
  readonly other: string | null;
  /** The system's own figures (RAUC boot_status, SWUpdate's boot variables), as text. */
  readonly details: Readonly<Record<string, string | null>>;
  /** What makes the slots unfit for an install now. */
  readonly problems: readonly string[];
}

/** The install in flight: the update and the phase of its install state machine. */
export interface InstallInFlight {
  readonly update_id: string;
  readonly version: string | null;
  readonly phase: string | null;
}

export interface SlotFigures {
  /** The directory A/B scheme every adapter stages in: the committed slot (null: the
   * initial version) and the one `current` points to. */
  readonly committed: string | null;
  readonly current: string | null;
  readonly install: InstallInFlight | null;
  /** rauc and swupdate: the system's view; null for the directory scheme and the hook. */
  readonly system: SystemSlots | null;
}

export interface ReadinessView {
  readonly node_id: string;
  /** The committed version. */
  readonly version: string;
  /** slots, command, rauc or swupdate. */
  readonly install_system: string;
  readonly space: SpaceFigures;
  readonly slots: SlotFigures;
  readonly problems: readonly ReadinessProblem[];
}
