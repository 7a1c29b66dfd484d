// One upstream observation per node resource, shared by every operator observing it
// through the gateway (RFC 7641 §1.2 and §5: a proxy observes once for all its clients; a
// node is a small device on a slow link). The first operator's registration starts it;
// each notification updates the cached representation and notifies the gateway's own
// observers; it is cancelled when the last of them leaves, and when it ends (the node's
// session ended, the agent answered an error or garbage) they get that end as their last
// notification (5.04, the agent's error, 5.02). Bounded in total and per node.

import { formatCode, Method, ResponseCode } from '../protocol/codes.js';
import { IllegalTransitionError, ResponseError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';
import type { Observation } from '../protocol/observe-client.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import { forwardedResponse } from './forwarded-response.js';
import { FORWARD_MAX_BODY_BYTES, upstreamFailure, type Forward, type Forwarder } from './forwarder.js';
import type { NodeLink } from './node-link.js';
import type { GatewayRouter } from './routing.js';

export interface SharedObservationLimits {
  /** Upstream observations in all. */
  readonly total: number;
  /** Upstream observations of one node: its agent serves a few resources only. */
  readonly perNode: number;
}

export const DEFAULT_SHARED_OBSERVATION_LIMITS: SharedObservationLimits = { total: 256, perNode: 8 };

/** starting: the registration is out to the agent; active: notifications flow; ended:
 * for good (a later registration starts a new one). */
type UpstreamState = 'starting' | 'active' | 'ended';

const allowedTransitions: Record<UpstreamState, readonly UpstreamState[]> = {
  starting: ['active', 'ended'],
  active: ['ended'],
  ended: [],
};

interface Upstream {
  readonly key: string;
  readonly nodeId: string;
  /** The gateway path its downstream observers are registered on. */
  readonly path: string;
  state: UpstreamState;
  /** The registration under way (starting): later registrations wait for it. */
  started: Promise<ResponseInit> | undefined;
  observation: Observation | undefined;
  /** The newest representation, what a downstream notification renders. */
  latest: ResponseInit | undefined;
}

export interface SharedObservationsContext {
  readonly nodeLink: NodeLink;
  readonly router: GatewayRouter;
  readonly forwarder: Forwarder;
  readonly logger: Logger;
  readonly limits?: Partial<SharedObservationLimits>;
  /** How long the agent has to answer the registration (NodeLink's bound for a request). */
  readonly timeoutMs: number;
}

export class SharedObservations {
  readonly #context: SharedObservationsContext;
  readonly #limits: SharedObservationLimits;
  /** Upstream observations by their cache key (node, agent path, query, Accept): added by
   * the first registration, removed when they end; at most `limits.total`. */
  readonly #upstreams = new Map<string, Upstream>();
  readonly #unsubscribe: (() => void)[];

  constructor(context: SharedObservationsContext) {
    this.#context = context;
    this.#limits = { ...DEFAULT_SHARED_OBSERVATION_LIMITS, ...context.limits };
    this.#unsubscribe = [
      context.nodeLink.onChange((nodeId, connected) => {
        if (!connected) this.#endNode(nodeId, { code: ResponseCode.GatewayTimeout, payload: `node ${nodeId} lost its session with the gateway` });
      }),
      // A replaced registration leaves its path for a moment: look once the turn is over.
      context.router.onObserversGone((path) => {
        if (this.#upstreams.size > 0) setImmediate(() => this.#cancelIfUnobserved(path));
      }),
    ];
  }

  get size(): number {
    return this.#upstreams.size;
  }

  /** The representation for a downstream registration, or for a notification of one (both
   * are GETs with Observe = 0): the upstream's newest, starting the upstream if none runs. */
  async current(request: CoapRequest, forward: Forward): Promise<ResponseInit> {
    const key = this.#context.forwarder.cacheKey(request, forward);
    const running = this.#upstreams.get(key);
    if (running !== undefined && running.state === 'active') return running.latest!;
    if (running?.started !== undefined) return running.started;
    this.#admit(forward.nodeId);
    const upstream: Upstream = {
      key, nodeId: forward.nodeId, path: `/${request.path.join('/')}`, state: 'starting', started: undefined, observation: undefined, latest: undefined,
    };
    this.#upstreams.set(key, upstream);
    upstream.started = this.#start(upstream, request, forward);
    return upstream.started;
  }

  /** Cancels every upstream observation (the gateway stops). */
  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const upstream of [...this.#upstreams.values()]) this.#end(upstream, undefined, 'forget');
  }

  #admit(nodeId: string): void {
    const ofNode = [...this.#upstreams.values()].filter((upstream) => upstream.nodeId === nodeId).length;
    if (ofNode < this.#limits.perNode && this.#upstreams.size < this.#limits.total) return;
    const which = ofNode >= this.#limits.perNode ? `${ofNode} observations of node ${nodeId}` : `${this.#upstreams.size} observations of nodes`;
    throw new ResponseError(ResponseCode.ServiceUnavailable, `${which} already`, { diagnostic: `${which} already; try a plain GET`, maxAge: 30, code: 'GATEWAY_ERR_OBSERVATIONS_FULL' });
  }

  async #start(upstream: Upstream, request: CoapRequest, forward: Forward): Promise<ResponseInit> {
    const { nodeId, agentPath } = forward;
    let started: Awaited<ReturnType<NodeLink['observe']>>;
    // The client tries an unanswered registration again, a few times (observe-client.ts):
    // right for an observer that must not silently stop, but the operator waiting here is
    // owed a 5.04 within one bound, so the whole registration is cut off at it.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#context.timeoutMs);
    try {
      started = await this.#context.nodeLink.observe(nodeId, {
        path: agentPath, query: request.query, maxBodySize: FORWARD_MAX_BODY_BYTES, maxQueue: 4, signal: deadline.signal,
        ...(request.accept === undefined ? {} : { accept: request.accept }),
      });
    } catch (error) {
      this.#end(upstream, undefined, 'none');
      throw upstreamFailure(nodeId, error);
    } finally {
      clearTimeout(timer);
    }
    const { observation, first } = started;
    if (upstream.state === 'ended') {
      // The node's session ended, or the gateway stopped, while the registration was out.
      observation.forget();
      return forwardedResponse(nodeId, Method.GET, request.accept, first);
    }
    upstream.observation = observation;
    let init: ResponseInit;
    try {
      init = forwardedResponse(nodeId, Method.GET, request.accept, first);
    } catch (error) {
      this.#end(upstream, undefined, 'cancel');
      throw error;
    }
    this.#context.forwarder.cache(upstream.key, nodeId, init);
    // Not observable (or the agent is full): the first answer is all there is.
    if (observation.state === 'ended') {
      this.#end(upstream, undefined, 'none');
      return init;
    }
    upstream.latest = init;
    upstream.started = undefined;
    this.#transition(upstream, 'active');
    void this.#follow(upstream, request.accept);
    // The registration this answers may not be kept (a bound said no): then nobody observes.
    setImmediate(() => this.#cancelIfUnobserved(upstream.path));
    return init;
  }

  /** Notifications until the upstream ends; its end is the downstream's last word. */
  async #follow(upstream: Upstream, accept: number | undefined): Promise<void> {
    let final: ResponseInit = { code: ResponseCode.GatewayTimeout, payload: `the observation of node ${upstream.nodeId} ended` };
    // Iterated by hand: a for-await left by an exception would forget the observation,
    // and the agent would hear of it only at its next notification; it is cancelled below.
    const notifications = upstream.observation![Symbol.asyncIterator]();
    try {
      for (let next = await notifications.next(); next.done !== true; next = await notifications.next()) {
        const response = next.value;
        if (upstream.state !== 'active') return;
        const init = forwardedResponse(upstream.nodeId, Method.GET, accept, response);
        if (response.code !== ResponseCode.Content) {
          final = init;
          break;
        }
        upstream.latest = init;
        this.#context.forwarder.cache(upstream.key, upstream.nodeId, init);
        this.#context.router.notify(upstream.path);
        if (this.#cancelIfUnobserved(upstream.path)) return;
      }
    } catch (error) {
      const failure = upstreamFailure(upstream.nodeId, error);
      final = failure instanceof ResponseError
        ? { code: failure.responseCode, ...(failure.diagnostic === undefined ? {} : { payload: failure.diagnostic }) }
        : final;
    }
    if (upstream.state === 'active') {
      this.#context.logger.debug({ node: upstream.nodeId, path: upstream.path, code: formatCode(final.code) }, 'upstream observation ended');
      this.#end(upstream, final, 'cancel');
    }
  }

  /** Cancels the upstreams of `path` when no operator observes it any more; true if it did. */
  #cancelIfUnobserved(path: string): boolean {
    if (this.#context.router.observers(path) > 0) return false;
    let cancelled = false;
    for (const upstream of [...this.#upstreams.values()]) {
      if (upstream.path !== path || upstream.state !== 'active') continue;
      this.#context.logger.debug({ node: upstream.nodeId, path }, 'last observer left: upstream observation cancelled');
      this.#end(upstream, undefined, 'cancel');
      cancelled = true;
    }
    return cancelled;
  }

  #endNode(nodeId: string, final: ResponseInit): void {
    // No session: nothing can carry a cancellation to the agent.
    for (const upstream of [...this.#upstreams.values()]) if (upstream.nodeId === nodeId) this.#end(upstream, final, 'forget');
  }

  /** Ends an upstream: the agent told (`cancel`, RFC 7641 §3.6) or not, and its downstream
   * observers given `final` as their last notification. */
  #end(upstream: Upstream, final: ResponseInit | undefined, how: 'cancel' | 'forget' | 'none'): void {
    if (upstream.state === 'ended') return;
    this.#transition(upstream, 'ended');
    if (how === 'cancel') void upstream.observation?.cancel();
    else if (how === 'forget') upstream.observation?.forget();
    if (final !== undefined) this.#context.router.endObservers(upstream.path, final);
  }

  #transition(upstream: Upstream, to: UpstreamState): void {
    const from = upstream.state;
    if (!allowedTransitions[from].includes(to)) throw new IllegalTransitionError('upstream observation', from, to);
    upstream.state = to;
    this.#context.logger.debug({ node: upstream.nodeId, path: upstream.path, from, to }, `upstream observation ${from} -> ${to}`);
    switch (to) {
      case 'active':
        return;
      case 'ended':
        if (this.#upstreams.get(upstream.key) === upstream) this.#upstreams.delete(upstream.key);
        return;
      case 'starting':
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }
}
