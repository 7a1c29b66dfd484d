// What `coap-fleet simulate` and its worker processes (simulate-worker.ts) say to each
// other over the fork IPC channel: the parent sends a shard and its settings, then a
// stop; a worker sends its tally every second and once more when it has stopped.

import type { SimulatedNodeSettings } from '../agent/simulated-node.js';
import type { NodeAssignment } from './simulate-shards.js';
import type { Tally } from './simulate-tally.js';

/** What every virtual node of a run shares. */
export interface WorkerSettings extends SimulatedNodeSettings {
  readonly gateway: string;
  /** The publisher's Ed25519 public key (PEM) every manifest must be signed with. */
  readonly publisherKeyPem: string;
  readonly loss: number;
  readonly failRate: number;
  /** The worker's partial downloads go under this directory, one folder per node. */
  readonly workDir: string;
  /** Node starts are spread over this long (0: all at once, a registration storm). */
  readonly rampMs: number;
  readonly logLevel: string;
}

export type ToWorker =
  | { readonly kind: 'start'; readonly worker: number; readonly nodes: readonly NodeAssignment[]; readonly settings: WorkerSettings }
  | { readonly kind: 'stop' };

export type FromWorker =
  | { readonly kind: 'tally'; readonly tally: Tally }
  | { readonly kind: 'stopped'; readonly tally: Tally };

/** How often a worker sends its tally. */
export const TALLY_EVERY_MS = 1000;
