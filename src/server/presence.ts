// The offline detector: a node is online while its last report (registration, health,
// status) is newer than N health intervals. `online` is computed from the stored last_seen
// whenever it is read, so it is right after a restart; a periodic sweep only notices the
// moments it flips, for the log, the audit trail and the observers of /nodes.

import type { GatewayStore } from './store.js';
import type { NodeRecord } from './records.js';

export interface PresenceOptions {
  /** A node silent for longer than this is offline. */
  readonly offlineAfterMs: number;
  /** How often the sweep runs. */
  readonly sweepIntervalMs: number;
  readonly now: () => Date;
  /** A node went offline, or came back. */
  readonly onChange: (nodeId: string, online: boolean) => void;
}

export class Presence {
  readonly #store: GatewayStore;
  readonly #options: PresenceOptions;
  /** Nodes the last sweep found offline; a node leaves when it is seen or decommissioned. */
  readonly #offline = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(store: GatewayStore, options: PresenceOptions) {
    this.#store = store;
    this.#options = options;
  }

  isOnline(node: NodeRecord): boolean {
    return this.#options.now().getTime() - Date.parse(node.last_seen) <= this.#options.offlineAfterMs;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sweep(), this.#options.sweepIntervalMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reports every node whose presence flipped since the last sweep. */
  sweep(): void {
    for (const node of this.#store.listNodes()) {
      const nodeId = node.registration.node_id;
      const online = this.isOnline(node);
      if (online === !this.#offline.has(nodeId)) continue;
      if (online) this.#offline.delete(nodeId);
      else this.#offline.add(nodeId);
      this.#options.onChange(nodeId, online);
    }
  }

  /** The node just reported: back online at once if it was offline. */
  seen(nodeId: string): void {
    if (this.#offline.delete(nodeId)) this.#options.onChange(nodeId, true);
  }

  forget(nodeId: string): void {
    this.#offline.delete(nodeId);
  }
}
