// The node's registration with its gateway (POST /nodes, DESIGN §5), retried with the
// agent's back-off (backoff.ts) until it succeeds or the agent stops, so no node gives up
// in a storm of registrations after a gateway restart, and refreshed every
// register_interval_s. Concurrent callers share one attempt. Used by the agent and by the
// simulator's virtual nodes alike.

import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';
import type { NodeRegistration } from '../fleet/schemas.js';
import type { Clock } from '../protocol/interfaces.js';
import { retryDelay } from './backoff.js';
import { GatewayRequestError } from './errors.js';
import type { GatewayLink } from './gateway-link.js';
import type { StopToken } from './interfaces.js';
import { Periodic } from './periodic.js';
import { sleep } from './sleep.js';

/** The longest wait a gateway's Max-Age buys: past it the node asks anyway. */
const MAX_ASKED_WAIT_S = 300;

export interface RegistrationDeps {
  readonly gateway: Pick<GatewayLink, 'register'>;
  readonly stop: Pick<StopToken, 'requested' | 'soft'>;
  /** The back-off between attempts. */
  readonly clock: Clock;
  readonly log: AgentLogger;
  /** register_interval_s: the period of the refresh, until setIntervalMs changes it. */
  readonly intervalMs: number;
  /** What to send, read at each attempt (the installed version may move meanwhile). */
  readonly registration: () => NodeRegistration;
}

export class Registration {
  readonly #deps: RegistrationDeps;
  #pending: Promise<boolean> | undefined;
  readonly #refresh: Periodic;

  constructor(deps: RegistrationDeps) {
    this.#deps = deps;
    this.#refresh = new Periodic(deps.clock, deps.stop, deps.intervalMs, () => this.register('periodic'));
  }

  /** The attempt under way, if any. */
  get pending(): Promise<boolean> | undefined {
    return this.#pending;
  }

  /** Registers, retrying until it succeeds (true) or the agent stops (false). */
  register(why: string): Promise<boolean> {
    this.#pending ??= this.#attempts(why).finally(() => { this.#pending = undefined; });
    return this.#pending;
  }

  /** Registers again every interval from now on. */
  startRefreshing(): void {
    this.#refresh.start();
  }

  /** A new period (config.set): the next refresh is one new interval away. */
  setIntervalMs(ms: number): void {
    this.#refresh.setPeriodMs(ms);
  }

  stopRefreshing(): void {
    this.#refresh.stop();
  }

  async #attempts(why: string): Promise<boolean> {
    const { gateway, stop, clock, log } = this.#deps;
    for (let failures = 0; !stop.requested; failures++) {
      try {
        const registration = this.#deps.registration();
        const result = await gateway.register(registration, stop.soft);
        log.info({ why, result, version: registration.version }, 'registered');
        if (registration.version === this.#deps.registration().version) return true;
        // An install committed while this registration was on its way (through loss that
        // can take a minute), and its own registration joined this one: the gateway must
        // hear the new version now, not at the next period.
        why = 'a new version was committed';
        failures = -1;
        continue;
      } catch (error) {
        if (stop.requested) break;
        if (error instanceof GatewayRequestError && error.retryAfterS !== undefined) {
          // 5.03 with Max-Age (RFC 7252 §5.9.3.4): a gateway still starting, or shedding
          // load, says when to come back; that is no fault of this node's.
          const waitMs = Math.min(Math.max(error.retryAfterS, 1), MAX_ASKED_WAIT_S) * 1000;
          log.info({ why, retry_in_s: waitMs / 1000, reason: error.message }, 'the gateway asked to wait; registering again then');
          await sleep(waitMs, stop.soft, clock).catch(() => {});
          continue;
        }
        log.warn({ why, err: error }, 'registration failed; trying again');
        await sleep(retryDelay(failures), stop.soft, clock).catch(() => {});
      }
    }
    return false;
  }
}
