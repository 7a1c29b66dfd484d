// The agent's watch on /updates (DESIGN §5): an Observe registration for as long as the
// agent runs, each (re)connection preceded by a registration with the gateway, since a
// gateway that lost us may have restarted. A gateway may decline the registration and
// serve it as a plain GET (RFC 7641 §4.1; ours does at its bound of observers). Then the
// agent tries again after a jittered, growing delay, so a fleet turned away does not come
// back in step (each registration costs the gateway a write), and meanwhile asks for
// /updates with plain GETs, more slowly, so that offers still arrive.

import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass, describeCode } from '../protocol/codes.js';
import type { Clock, Random } from '../protocol/interfaces.js';
import type { Observation } from '../protocol/observe-client.js';
import { JitteredBackoff, retryDelay } from './backoff.js';
import type { GatewayLink } from './gateway-link.js';
import { sleep } from './sleep.js';

/** Between registrations the gateway declined: from a few seconds up to five minutes. */
export const DECLINED_BASE_MS = 5000;
export const DECLINED_CAP_MS = 300_000;
/** Plain GETs of /updates while registrations are declined. */
export const POLL_WHILE_DECLINED_MS = 60_000;

export interface UpdatesWatchDeps {
  readonly gateway: Pick<GatewayLink, 'observeUpdates' | 'getUpdates'>;
  /** Registers the node with the gateway; false when the agent stopped first. */
  readonly register: () => Promise<boolean>;
  /** Each 2.xx representation of /updates: the first response, notifications, polls. */
  readonly onUpdates: (response: CoapResponse) => void;
  readonly log: AgentLogger;
  /** Aborted when the agent stops: the watch ends, its observation forgotten. */
  readonly stop: AbortSignal;
  readonly clock: Clock;
  readonly random: Random;
}

export class UpdatesWatch {
  readonly #deps: UpdatesWatchDeps;
  readonly #declined: JitteredBackoff;
  #observation: Observation | undefined;
  /** renew() ended the observation: observe again without waiting. */
  #renewing = false;

  constructor(deps: UpdatesWatchDeps) {
    this.#deps = deps;
    this.#declined = new JitteredBackoff(DECLINED_BASE_MS, DECLINED_CAP_MS, deps.random);
    deps.stop.addEventListener('abort', () => this.#observation?.forget(), { once: true });
  }

  /** The DTLS session with the gateway ended: the registration on the gateway went with
   * it (a notification comes in the session of its request, RFC 7252 §9.1), so the
   * observation in place ends and the watch registers and observes again. False when
   * there was none (the watch is between attempts and registers anyway). */
  renew(): boolean {
    const observation = this.#observation;
    if (observation === undefined) return false;
    this.#observation = undefined;
    this.#renewing = true;
    observation.forget();
    return true;
  }

  /** Resolves when the agent stops. */
  async run(): Promise<void> {
    const { stop, log } = this.#deps;
    for (let failures = 0; !stop.aborted;) {
      if (!(await this.#deps.register())) return;
      let waitMs: number;
      let declined = false;
      try {
        const { observation, first, registered } = await this.#deps.gateway.observeUpdates();
        if (stop.aborted) {
          observation.forget();
          return;
        }
        this.#take(first);
        if (registered) {
          if (this.#declined.attempts > 0) log.info('the gateway registered this observer of /updates again');
          this.#declined.reset();
          failures = 0;
          this.#observation = observation;
          for await (const notification of observation) this.#take(notification);
          this.#observation = undefined;
          if (stop.aborted) return;
          log.info({ renewing: this.#renewing }, 'the /updates observation ended');
          waitMs = this.#renewing ? 0 : retryDelay(failures++);
          this.#renewing = false;
        } else {
          declined = true;
          waitMs = this.#declined.next();
          // Once per run of refusals: the operator should hear that the gateway is at a bound.
          log[this.#declined.attempts === 1 ? 'warn' : 'debug']({
            code: describeCode(first.code), retry_in_s: waitMs / 1000, poll_every_s: POLL_WHILE_DECLINED_MS / 1000,
          }, 'the gateway declined to register this observer of /updates; asking for it with plain GETs meanwhile');
        }
      } catch (error) {
        this.#observation = undefined;
        if (stop.aborted) return;
        log.warn({ err: error }, 'observing /updates failed');
        waitMs = retryDelay(failures++);
      }
      await (declined ? this.#pollFor(waitMs) : sleep(waitMs, stop, this.#deps.clock)).catch(() => {});
    }
  }

  /** Waits `ms`, asking for /updates every POLL_WHILE_DECLINED_MS meanwhile; each turn
   * moves the clock on by a poll interval, so the loop is bounded by `ms`. */
  async #pollFor(ms: number): Promise<void> {
    const { clock, stop, log } = this.#deps;
    const end = clock.now() + ms;
    while (end - clock.now() > POLL_WHILE_DECLINED_MS) {
      await sleep(POLL_WHILE_DECLINED_MS, stop, clock);
      try {
        this.#take(await this.#deps.gateway.getUpdates(stop));
      } catch (error) {
        if (stop.aborted) return;
        log.debug({ err: error }, 'GET /updates failed');
      }
    }
    await sleep(Math.max(0, end - clock.now()), stop, clock);
  }

  #take(response: CoapResponse): void {
    if (codeClass(response.code) === 2) this.#deps.onUpdates(response);
    else this.#deps.log.debug({ code: describeCode(response.code) }, '/updates answered with an error');
  }
}
