// One observation of one agent resource (/health or /metrics) over the node's own DTLS
// session (RFC 7641 through node-link.ts), kept up while the node is connected: each
// representation goes to `deliver`; an observation that ends (the agent restarted its
// endpoint, a renewal went unanswered, a 5.xx) is registered again after a back-off that
// doubles from BACKOFF_INITIAL_MS to BACKOFF_MAX_MS and starts over once a registration
// holds. A 4.xx to the registration (4.04: an older agent without the resource) is the
// agent's standing answer: the watch gives up until the node connects anew.

import { codeClass, describeCode, ResponseCode } from '../protocol/codes.js';
import type { CoapResponse } from '../protocol/client.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { IllegalTransitionError } from '../protocol/errors.js';
import type { Clock, Logger, TimerHandle } from '../protocol/interfaces.js';
import type { Observation } from '../protocol/observe-client.js';
import type { NodeLink } from './node-link.js';

const BACKOFF_INITIAL_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
/** Notifications kept for a slow `deliver`: only the newest matter (RFC 7641 §1.3). */
const NOTIFICATION_QUEUE = 4;

/** registering: the GET with Observe is out; observing: registered, notifications flow;
 * waiting: between an ended observation and the next registration; unsupported: the agent
 * refused (4.xx), nothing more is tried; stopped: the node disconnected or the gateway stops. */
export type WatchState = 'registering' | 'observing' | 'waiting' | 'unsupported' | 'stopped';

const allowedTransitions: Record<WatchState, readonly WatchState[]> = {
  registering: ['observing', 'waiting', 'unsupported', 'stopped'],
  observing: ['waiting', 'unsupported', 'stopped'],
  waiting: ['registering', 'stopped'],
  unsupported: ['stopped'],
  stopped: [],
};

export interface AgentWatchOptions {
  readonly nodeLink: NodeLink;
  readonly nodeId: string;
  /** The agent's path (AgentRoute.health, AgentRoute.metrics). */
  readonly path: string;
  /** Takes one representation (2.05); a rejection is logged, the watch goes on. */
  readonly deliver: (response: CoapResponse) => Promise<void>;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class AgentWatch {
  readonly #options: AgentWatchOptions;
  #state: WatchState = 'registering';
  #observation: Observation | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;

  constructor(options: AgentWatchOptions) {
    this.#options = options;
    void this.#register();
  }

  get state(): WatchState {
    return this.#state;
  }

  /** Ends the watch for good. The observation is forgotten, not cancelled: the session is
   * gone or going, and the agent's next notification gets RST (RFC 7641 §3.6). */
  stop(): void {
    if (this.#state !== 'stopped') this.#transition('stopped');
  }

  #transition(to: WatchState): void {
    const from = this.#state;
    if (!allowedTransitions[from].includes(to)) throw new IllegalTransitionError('agent watch', from, to);
    this.#state = to;
    const { nodeId, path, logger, clock } = this.#options;
    logger.debug({ node: nodeId, path, from, to }, `agent watch ${from} -> ${to}`);
    switch (to) {
      case 'registering':
        void this.#register();
        return;
      case 'observing':
        this.#failures = 0;
        return;
      case 'waiting': {
        const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** this.#failures++);
        this.#timer = clock.setTimeout(() => {
          this.#timer = undefined;
          if (this.#state === 'waiting') this.#transition('registering');
        }, delay);
        return;
      }
      case 'unsupported':
      case 'stopped':
        this.#observation?.forget();
        this.#observation = undefined;
        if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
        this.#timer = undefined;
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  async #register(): Promise<void> {
    const { nodeLink, nodeId, path, logger } = this.#options;
    let first: CoapResponse;
    try {
      const registered = await nodeLink.observe(nodeId, { path, accept: ContentFormat.Cbor, maxQueue: NOTIFICATION_QUEUE });
      first = registered.first;
      if (this.#state !== 'registering') {
        registered.observation.forget();
        return;
      }
      this.#observation = registered.observation;
    } catch (error) {
      logger.debug({ node: nodeId, path, err: error }, 'agent observation not registered');
      if (this.#state === 'registering') this.#transition('waiting');
      return;
    }
    if (codeClass(first.code) === 4) {
      logger.info({ node: nodeId, path, code: describeCode(first.code) }, 'the agent does not serve this resource; not observed until it connects again');
      this.#transition('unsupported');
      return;
    }
    await this.#take(first);
    const observation = this.#observation;
    if (this.#state !== 'registering' || observation === undefined) return;
    // Answered without Observe (RFC 7641 §3.2: not observable, or the agent is full of
    // observers): the observation has ended already; asked again after the back-off.
    if (observation.state === 'ended') {
      this.#transition('waiting');
      return;
    }
    this.#transition('observing');
    // stop() may come during any await below.
    const observing = (): boolean => this.#state === 'observing';
    try {
      for await (const notification of observation) {
        if (!observing()) return;
        await this.#take(notification);
      }
    } catch (error) {
      logger.debug({ node: nodeId, path, err: error }, 'agent observation ended');
    }
    if (observing()) this.#transition('waiting');
  }

  async #take(response: CoapResponse): Promise<void> {
    if (response.code !== ResponseCode.Content) return;
    try {
      await this.#options.deliver(response);
    } catch (error) {
      this.#options.logger.debug({ node: this.#options.nodeId, path: this.#options.path, err: error }, 'an agent representation not taken');
    }
  }
}
