// The offline detector: a node is online while its last report (registration, health,
// status) is newer than N health intervals. `online` is computed from the stored last_seen
// whenever it is read, so it is right after a restart; a periodic sweep only notices the
// moments it flips, for the log, the audit trail and the observers of /nodes: each flip
// of a node's presence is one transition(), as in DtlsSession.

import { IllegalTransitionError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';
import type { GatewayStore } from './store.js';
import type { NodeRecord } from './records.js';

/** A node's presence as the sweep last saw it (or its own report since). */
export type NodePresence = 'online' | 'offline';

const allowedTransitions: Record<NodePresence, readonly NodePresence[]> = {
  online: ['offline'],
  offline: ['online'],
};

export interface PresenceOptions {
  /** A node silent for longer than this is offline. */
  readonly offlineAfterMs: number;
  /** How often the sweep runs. */
  readonly sweepIntervalMs: number;
  readonly now: () => Date;
  /** A node went offline, or came back. */
  readonly onChange: (nodeId: string, presence: NodePresence) => void;
  /** Each transition at debug. */
  readonly logger?: Logger;
}

export class Presence {
  readonly #store: GatewayStore;
  #options: PresenceOptions;
  /** Nodes the last sweep found offline; a node leaves when it is seen or decommissioned.
   * Every other registered node is online. Bounded by the registered nodes. */
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

  /** New intervals from now on (a config change); a running sweep is rescheduled. */
  configure(timing: Pick<PresenceOptions, 'offlineAfterMs' | 'sweepIntervalMs'>): void {
    this.#options = { ...this.#options, ...timing };
    if (this.#timer === undefined) return;
    this.stop();
    this.start();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reports every node whose presence flipped since the last sweep. */
  sweep(): void {
    for (const node of this.#store.listNodes()) {
      const nodeId = node.registration.node_id;
      const presence: NodePresence = this.isOnline(node) ? 'online' : 'offline';
      if (presence !== this.presenceOf(nodeId)) this.transition(nodeId, presence);
    }
  }

  /** The node just reported: back online at once if it was offline. */
  seen(nodeId: string): void {
    if (this.presenceOf(nodeId) === 'offline') this.transition(nodeId, 'online');
  }

  /** The node is decommissioned: no longer tracked (not a transition: it has no presence). */
  forget(nodeId: string): void {
    this.#offline.delete(nodeId);
  }

  presenceOf(nodeId: string): NodePresence {
    return this.#offline.has(nodeId) ? 'offline' : 'online';
  }

  /** Moves `nodeId` to `to` and reports it; an illegal move (to where it is) is a bug and
   * throws IllegalTransitionError without changing anything. */
  transition(nodeId: string, to: NodePresence): void {
    const from = this.presenceOf(nodeId);
    if (!allowedTransitions[from].includes(to)) throw new IllegalTransitionError('node presence', from, to);
    this.#options.logger?.debug({ node: nodeId, from, to }, `node presence ${from} -> ${to}`);
    switch (to) {
      case 'offline':
        this.#offline.add(nodeId);
        break;
      case 'online':
        this.#offline.delete(nodeId);
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown presence ${String(never)}`);
      }
    }
    this.#options.onChange(nodeId, to);
  }
}
