// Observe on the server side (RFC 7641): registrations per resource keyed by (peer,
// token), notifications with increasing 24-bit sequence numbers, a CON notification every
// N-th time and at least every 24 hours (§4.5), removal on RST, on an unacknowledged CON
// notification, on deregistration (§3.6), when the resource goes away (a final 4.04) and
// when the transport says the peer is gone (its DTLS session ended); bounds per resource,
// per observer (its authenticated identity, else its address) and in total, and for a
// slow observer only the newest state (§4.5.2). Each registration is an explicit state
// machine: every change goes through ObserveRegistry's guarded #transition().

import { codeClass, ResponseCode } from './codes.js';
import { IllegalTransitionError } from './errors.js';
import type { Clock, Logger, Peer, PeerAddress } from './interfaces.js';
import { formatPeer, peerKey } from './interfaces.js';
import type { MessageDraft, MessageLayer } from './message-layer.js';
import { nextSequence, OBSERVE_SEQUENCE_MODULUS } from './observe-sequence.js';
import { OptionNumber, uintOption } from './options.js';
import { responseDraft } from './response-draft.js';
import type { CoapRequest, ResponseInit } from './server-types.js';

export interface ObserveLimits {
  readonly perResource: number;
  /** Per observer: per authenticated identity when the peer has one (all its sessions and
   * ports together, so one credential cannot fill a resource), else per address and port. */
  readonly perPeer: number;
  readonly total: number;
  /** Every N-th notification to an observer is confirmable. */
  readonly confirmableEvery: number;
  /** And at least one in this long (§4.5: 24 hours). */
  readonly confirmableIntervalMs: number;
}

export const DEFAULT_OBSERVE_LIMITS: ObserveLimits = {
  perResource: 1000,
  perPeer: 64,
  total: 20_000,
  confirmableEvery: 20,
  confirmableIntervalMs: 24 * 60 * 60 * 1000,
};

/** Renders the current representation for one observer (the handler, run again on the
 * stored request, then sliced to block 0 when large). */
export type Renderer = (request: CoapRequest) => Promise<ResponseInit>;

/** idle: nothing under way; rendering: the handler runs for a notification; in-flight: a
 * CON notification awaits its ACK; ended: removed for good (a replacement is a new
 * registration). A registration is in the tables exactly while it has not ended. */
type RegistrationState = 'idle' | 'rendering' | 'in-flight' | 'ended';

const allowedTransitions: Record<RegistrationState, readonly RegistrationState[]> = {
  idle: ['rendering', 'ended'],
  // To idle when a NON went out, to in-flight when a CON did, to ended on an error code.
  rendering: ['idle', 'in-flight', 'ended'],
  'in-flight': ['idle', 'ended'],
  ended: [],
};

interface Registration {
  readonly key: string;
  readonly path: string;
  readonly peer: Peer;
  readonly token: Buffer;
  readonly request: CoapRequest;
  readonly render: Renderer;
  /** Every notification confirmable (a resource's choice), not only every N-th. */
  readonly alwaysConfirmable: boolean;
  state: RegistrationState;
  /** A newer state arrived while one was being rendered or was in flight. */
  dirty: boolean;
  sentSinceConfirmable: number;
  lastConfirmableAt: number;
}

const MAX_NON_INDEX = 50_000;

/** Whom the per-observer bound counts: the identity a DTLS peer proved, or, without one,
 * the address (plain CoAP has nothing better). */
const observerKey = (peer: Peer): string => (peer.identity === undefined ? `addr:${peerKey(peer)}` : `id:${peer.identity}`);

export class ObserveRegistry {
  readonly #messageLayer: MessageLayer;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: ObserveLimits;
  /** Registrations by `address|port#token` (where notifications go, and what RST and
   * deregistration name); removed as the header says. Bounded by `limits.total`. */
  readonly #registrations = new Map<string, Registration>();
  /** Registration keys per resource path, for notify() and the per-resource bound; a path
   * goes with its last key. */
  readonly #byPath = new Map<string, Set<string>>();
  /** Registration keys per peer address (`address|port`), so a peer that is gone takes its
   * registrations with it (dropPeer); an address goes with its last key. */
  readonly #byAddress = new Map<string, Set<string>>();
  /** Registrations per observer (observerKey: `id:IDENTITY` or `addr:ADDRESS|PORT`), for
   * the per-observer bound; entries at zero are removed. */
  readonly #perObserver = new Map<string, number>();
  /** Message IDs of recent NON notifications, `peer#mid` -> registration key, so an RST to
   * one ends its registration (§3.6); oldest dropped past MAX_NON_INDEX. */
  readonly #nonIndex = new Map<string, string>();
  readonly #idleListeners = new Set<(path: string) => void>();
  #sequence: number;

  constructor(messageLayer: MessageLayer, clock: Clock, logger: Logger, limits: ObserveLimits, initialSequence: number) {
    this.#messageLayer = messageLayer;
    this.#clock = clock;
    this.#logger = logger;
    this.#limits = limits;
    this.#sequence = initialSequence % OBSERVE_SEQUENCE_MODULUS;
  }

  get size(): number {
    return this.#registrations.size;
  }

  observers(path: string): number {
    return this.#byPath.get(path)?.size ?? 0;
  }

  /** Adds or replaces (§4.1) the registration of this request's (peer, token); returns
   * the Observe value for the response, or undefined when a bound says no and the
   * request is served as a plain GET. */
  register(request: CoapRequest, render: Renderer, alwaysConfirmable = false): number | undefined {
    const address = peerKey(request.peer);
    const key = `${address}#${request.token.toString('hex')}`;
    const path = `/${request.path.join('/')}`;
    const observer = observerKey(request.peer);
    if (!this.#registrations.has(key)) {
      const bound = (this.#perObserver.get(observer) ?? 0) >= this.#limits.perPeer ? 'per observer'
        : this.observers(path) >= this.#limits.perResource ? 'per resource'
          : this.#registrations.size >= this.#limits.total ? 'total' : undefined;
      if (bound !== undefined) {
        this.#logger.debug({ peer: formatPeer(request.peer), identity: request.peer.identity, path, bound }, 'observe bound reached: served as a plain GET');
        return undefined;
      }
    }
    const replaced = this.#registrations.get(key);
    if (replaced !== undefined) this.#end(replaced);
    this.#registrations.set(key, {
      key, path, peer: request.peer, token: request.token, request, render, alwaysConfirmable,
      state: 'idle', dirty: false, sentSinceConfirmable: 0, lastConfirmableAt: this.#clock.now(),
    });
    this.#perObserver.set(observer, (this.#perObserver.get(observer) ?? 0) + 1);
    addTo(this.#byPath, path, key);
    addTo(this.#byAddress, address, key);
    // Each new relation once (a renewal, §4.1, says so): what a test or an operator counts
    // to see how many observers a resource really has upstream of a proxy.
    this.#logger.debug(
      { peer: formatPeer(request.peer), identity: request.peer.identity, token: request.token.toString('hex'), path },
      replaced === undefined ? 'observe registration added' : 'observe registration renewed',
    );
    return this.#nextSequence();
  }

  /** The peer at this address is gone (its DTLS session ended): its registrations go, with
   * no final notification, since nothing could carry one to it. Returns how many. */
  dropPeer(peer: PeerAddress): number {
    const keys = [...(this.#byAddress.get(peerKey(peer)) ?? [])];
    for (const key of keys) this.#removeKey(key);
    if (keys.length > 0) this.#logger.debug({ peer: formatPeer(peer), registrations: keys.length }, 'observer gone with its session: registrations removed');
    return keys.length;
  }

  /** §3.6: GET with Observe = 1, or a GET without Observe, from the same peer and token. */
  deregister(peer: PeerAddress, token: Buffer): boolean {
    return this.#removeKey(`${peerKey(peer)}#${token.toString('hex')}`);
  }

  /** The resource at `path` changed: every observer gets its newest state. */
  notify(path: string): void {
    for (const key of this.#byPath.get(path) ?? []) {
      const registration = this.#registrations.get(key);
      if (registration !== undefined) this.#schedule(registration);
    }
  }

  /** The resource at `path` is gone: a final 4.04 without Observe ends each relation. */
  removeResource(path: string): void {
    this.endAll(path, { code: ResponseCode.NotFound });
  }

  /** The resource at `path` can no longer be observed: each relation ends with `final`,
   * an error response without Observe (§3.2), e.g. a 5.04 from a proxy whose upstream
   * observation ended. */
  endAll(path: string, final: ResponseInit): void {
    for (const key of [...(this.#byPath.get(path) ?? [])]) {
      const registration = this.#registrations.get(key);
      if (registration === undefined) continue;
      this.#end(registration);
      this.#send(registration, final, false);
    }
  }

  /** Calls `listener` with a path whenever its last registration ends (a proxy ends its
   * upstream observation then). A replaced registration (§4.1) ends and is added again in
   * one step, so a listener may see a path that has observers again: it checks
   * `observers(path)` later. Returns a function that removes the listener. */
  onIdle(listener: (path: string) => void): () => void {
    this.#idleListeners.add(listener);
    return () => { this.#idleListeners.delete(listener); };
  }

  /** An RST that matched none of our CONs: maybe the answer to a NON notification. */
  onReset(peer: PeerAddress, messageId: number): void {
    const nonKey = `${peerKey(peer)}#${messageId}`;
    const key = this.#nonIndex.get(nonKey);
    if (key === undefined) return;
    this.#nonIndex.delete(nonKey);
    if (this.#removeKey(key)) this.#logger.debug({ peer: formatPeer(peer) }, 'observer rejected a notification: removed');
  }

  close(): void {
    for (const key of [...this.#registrations.keys()]) this.#removeKey(key);
    this.#nonIndex.clear();
  }

  #nextSequence(): number {
    this.#sequence = nextSequence(this.#sequence);
    return this.#sequence;
  }

  #removeKey(key: string): boolean {
    const registration = this.#registrations.get(key);
    if (registration === undefined) return false;
    this.#end(registration);
    return true;
  }

  /** Ends a registration unless it has ended already (a late outcome of a replaced one). */
  #end(registration: Registration): void {
    if (registration.state !== 'ended') this.#transition(registration, 'ended');
  }

  /** Moves a registration to `to`, refusing moves the machine does not have, and runs
   * its entry actions. */
  #transition(registration: Registration, to: RegistrationState): void {
    const from = registration.state;
    if (!allowedTransitions[from].includes(to)) throw new IllegalTransitionError('observe registration', from, to);
    registration.state = to;
    this.#logger.debug(
      { peer: formatPeer(registration.peer), token: registration.token.toString('hex'), path: registration.path, from, to },
      `observe registration ${from} -> ${to}`,
    );
    switch (to) {
      case 'idle':
        // §4.5.2: never queue; a state that arrived meanwhile goes out now, the newest only.
        if (registration.dirty) this.#transition(registration, 'rendering');
        return;
      case 'rendering':
        registration.dirty = false;
        registration.render(registration.request).then(
          (init) => this.#deliver(registration, init),
          (error: unknown) => {
            this.#logger.error({ err: error, path: registration.path }, 'rendering a notification failed');
            this.#deliver(registration, { code: ResponseCode.InternalServerError });
          },
        );
        return;
      case 'in-flight':
        return;
      case 'ended':
        this.#unindex(registration);
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  #unindex(registration: Registration): void {
    const { key } = registration;
    this.#registrations.delete(key);
    const observer = observerKey(registration.peer);
    const count = (this.#perObserver.get(observer) ?? 1) - 1;
    if (count <= 0) this.#perObserver.delete(observer);
    else this.#perObserver.set(observer, count);
    removeFrom(this.#byPath, registration.path, key);
    removeFrom(this.#byAddress, peerKey(registration.peer), key);
    if (!this.#byPath.has(registration.path)) for (const listener of this.#idleListeners) listener(registration.path);
  }

  #schedule(registration: Registration): void {
    if (registration.state !== 'idle') {
      // §4.5.2: never queue; the newest state goes out when the current one is done.
      registration.dirty = true;
      return;
    }
    this.#transition(registration, 'rendering');
  }

  #deliver(registration: Registration, init: ResponseInit): void {
    if (registration.state === 'ended') return;
    if (codeClass(init.code) !== 2) {
      // §3.2: a notification with an error code ends the relation.
      this.#transition(registration, 'ended');
      this.#send(registration, init, false);
      return;
    }
    const now = this.#clock.now();
    const confirmable = registration.alwaysConfirmable
      || registration.sentSinceConfirmable + 1 >= this.#limits.confirmableEvery
      || now - registration.lastConfirmableAt >= this.#limits.confirmableIntervalMs;
    const observe = this.#nextSequence();
    if (!confirmable) {
      registration.sentSinceConfirmable++;
      this.#send(registration, init, false, observe);
      this.#transition(registration, 'idle');
      return;
    }
    registration.sentSinceConfirmable = 0;
    registration.lastConfirmableAt = now;
    this.#transition(registration, 'in-flight');
    this.#send(registration, init, true, observe);
  }

  #send(registration: Registration, init: ResponseInit, confirmable: boolean, observe?: number): void {
    const draft = notificationDraft(registration.token, init, observe);
    if (!confirmable) {
      try {
        const messageId = this.#messageLayer.sendNonConfirmable(registration.peer, draft);
        this.#indexNon(`${peerKey(registration.peer)}#${messageId}`, registration.key);
      } catch (error) {
        this.#logger.warn({ err: error }, 'could not send a notification');
      }
      return;
    }
    this.#messageLayer.sendConfirmable(registration.peer, draft).then(
      () => {
        if (registration.state === 'in-flight') this.#transition(registration, 'idle');
      },
      (error: unknown) => {
        if (registration.state === 'ended') return;
        // §4.5: an unacknowledged CON notification (timeout or RST) ends the relation.
        this.#logger.debug({ err: error, peer: formatPeer(registration.peer) }, 'observer gone: removed');
        this.#transition(registration, 'ended');
      },
    );
  }

  #indexNon(nonKey: string, key: string): void {
    this.#nonIndex.set(nonKey, key);
    if (this.#nonIndex.size > MAX_NON_INDEX) this.#nonIndex.delete(this.#nonIndex.keys().next().value!);
  }
}

function addTo(index: Map<string, Set<string>>, name: string, key: string): void {
  let keys = index.get(name);
  if (keys === undefined) {
    keys = new Set();
    index.set(name, keys);
  }
  keys.add(key);
}

function removeFrom(index: Map<string, Set<string>>, name: string, key: string): void {
  const keys = index.get(name);
  keys?.delete(key);
  if (keys?.size === 0) index.delete(name);
}

function notificationDraft(token: Buffer, init: ResponseInit, observe: number | undefined): MessageDraft {
  if (observe === undefined) return responseDraft(token, init);
  return responseDraft(token, { ...init, options: [...(init.options ?? []), uintOption(OptionNumber.Observe, observe)] });
}
