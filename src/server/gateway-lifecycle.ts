// The gateway's own state (DESIGN §5 /system/shutdown: a graceful stop): running, then
// stopping (new requests get 5.03, running ones finish within the grace), then stopped
// (sockets and LMDB closed). Forward only, every move through transition(), like
// DtlsSession's: a table of allowed moves, a `from -> to` debug line, entry actions.

import { IllegalTransitionError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';

export type GatewayState = 'running' | 'stopping' | 'stopped';

const allowedTransitions: Record<GatewayState, readonly GatewayState[]> = {
  running: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};

/** What the gateway does on entering a state. */
export interface GatewayEntryActions {
  /** Stop the timers that would start new work (the presence sweep). */
  readonly stopping: () => void;
  /** Everything is closed: say so. */
  readonly stopped: () => void;
}

export class GatewayLifecycle {
  readonly #logger: Logger;
  readonly #entry: GatewayEntryActions;
  #state: GatewayState = 'running';

  constructor(logger: Logger, entry: GatewayEntryActions) {
    this.#logger = logger;
    this.#entry = entry;
  }

  get state(): GatewayState {
    return this.#state;
  }

  /** Moves to `to` and runs its entry action; an illegal move is a bug and throws
   * IllegalTransitionError without changing anything. */
  transition(to: GatewayState): void {
    const from = this.#state;
    if (!allowedTransitions[from].includes(to)) throw new IllegalTransitionError('gateway', from, to);
    this.#state = to;
    this.#logger.debug({ from, to }, `gateway ${from} -> ${to}`);
    switch (to) {
      case 'stopping':
        this.#entry.stopping();
        break;
      case 'stopped':
        this.#entry.stopped();
        break;
      case 'running':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }
}
