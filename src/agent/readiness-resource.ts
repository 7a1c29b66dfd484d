// GET /update-readiness of the agent (issue 13, the dry run; the shape is
// fleet/update-readiness.ts): could this node take an image of `?size=N` bytes now? Its
// committed version, the room on the data directory's filesystem less reserved_space_mb,
// what the image takes as the agent stores it (installer.ts: the download, then its copy
// into the inactive slot, whose old image is removed first), the install in flight, the
// install system's slots, and the problems. Read-only: it runs `rauc status` or
// fw_printenv at most once at a time, never a write.

import { stat, statfs } from 'node:fs/promises';
import { linkAttributes } from '../fleet/link-attributes.js';
import { MAX_IMAGE_SIZE } from '../fleet/manifest.js';
import { AgentRoute } from '../fleet/paths.js';
import { encodeBody } from '../fleet/payload.js';
import type { InstallInFlight, ReadinessProblem, ReadinessView, SystemSlots } from '../fleet/update-readiness.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { InstallAdapter } from './interfaces.js';
import { badQuery, readQuery } from './request-query.js';
import { otherSlot, type SlotDirectory } from './slots.js';
import type { AgentStore } from './store.js';

export interface ReadinessDeps {
  readonly nodeId: string;
  /** Where downloads and slots go (one filesystem: data_dir). */
  readonly dataDir: string;
  readonly reservedBytes: number;
  readonly adapter: InstallAdapter;
  readonly slots: SlotDirectory;
  readonly store: AgentStore;
  readonly installedVersion: () => string;
}

export function addReadinessResource(endpoint: Endpoint, deps: ReadinessDeps): void {
  // Requests that arrive while the install system is being asked share its answer: a burst
  // of them costs the device one `rauc status`.
  let inspecting: Promise<SystemSlots | null> | undefined;
  const inspect = (): Promise<SystemSlots | null> => {
    inspecting ??= deps.adapter.inspect().finally(() => { inspecting = undefined; });
    return inspecting;
  };
  endpoint.router.add(AgentRoute.readiness, {
    attributes: linkAttributes('update-readiness', { if: 'item', ct: 'app' }),
    handlers: {
      GET: async (request) => {
        const sizeText = readQuery(request.query, ['size']).get('size');
        const size = sizeText === undefined ? null : imageSizeOf(sizeText);
        const committed = deps.store.slots().committed;
        const [space, current, system, staleImageBytes] = await Promise.all([
          statfs(deps.dataDir), deps.slots.active(), inspect(), fileBytes(deps.slots.imagePath(otherSlot(committed))),
        ]);
        const installing = deps.store.updates().find((record) => record.state === 'installing');
        const view = readinessView({
          nodeId: deps.nodeId, version: deps.installedVersion(), installSystem: deps.adapter.name,
          freeBytes: space.bavail * space.bsize, reservedBytes: deps.reservedBytes, imageBytes: size, staleImageBytes,
          committed, current, system,
          install: installing === undefined ? null : {
            update_id: installing.updateId, version: installing.manifest?.version ?? null, phase: installing.install?.phase ?? null,
          },
        });
        // Max-Age 0: a dry run asks about now; the gateway's cache must not answer it
        // from an earlier answer (RFC 7252 §5.10.5).
        return { code: ResponseCode.Content, ...encodeBody(view, request.accept), maxAge: 0 };
      },
    },
  });
}

/** The size of a file; 0 when there is none. */
async function fileBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

// ---- pure ---------------------------------------------------------------------------

function imageSizeOf(text: string): number {
  const size = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(size >= 1 && size <= MAX_IMAGE_SIZE)) throw badQuery(`size: a whole number of bytes, 1..${MAX_IMAGE_SIZE}`);
  return size;
}

export interface ReadinessFigures {
  readonly nodeId: string;
  readonly version: string;
  readonly installSystem: string;
  /** statfs(2): the blocks an unprivileged writer may use, in bytes. */
  readonly freeBytes: number;
  readonly reservedBytes: number;
  readonly imageBytes: number | null;
  /** The inactive slot's image, removed before the new one is copied in. */
  readonly staleImageBytes: number;
  readonly committed: string | null;
  readonly current: string | null;
  readonly system: SystemSlots | null;
  readonly install: InstallInFlight | null;
}

/** The representation, with its problems: not enough room, an install in flight, and the
 * install system's own. */
export function readinessView(figures: ReadinessFigures): ReadinessView {
  const { freeBytes, reservedBytes, imageBytes, install, system } = figures;
  const usable = Math.max(0, freeBytes - reservedBytes);
  // The download needs the whole image first; the slot copy then needs what the inactive
  // slot's old image does not give back.
  const needed = imageBytes === null ? null : imageBytes + Math.max(0, imageBytes - figures.staleImageBytes);
  const problems: ReadinessProblem[] = [];
  if (needed !== null && needed > usable) {
    problems.push({
      kind: 'space',
      message: `not enough space: an image of ${imageBytes} bytes needs ${needed} (download and slot copy), ${usable} usable (${freeBytes} free less ${reservedBytes} reserved)`,
    });
  }
  if (install !== null) {
    const version = install.version === null ? '' : ` (${install.version})`;
    problems.push({ kind: 'busy', message: `installing ${install.update_id}${version}${install.phase === null ? '' : `, ${install.phase}`}` });
  }
  for (const message of system?.problems ?? []) problems.push({ kind: 'slot', message });
  return {
    node_id: figures.nodeId, version: figures.version, install_system: figures.installSystem,
    space: { free_bytes: freeBytes, reserved_bytes: reservedBytes, usable_bytes: usable, image_bytes: imageBytes, needed_bytes: needed },
    slots: { committed: figures.committed, current: figures.current, install, system },
    problems,
  };
}
