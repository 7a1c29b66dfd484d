// Observe on the client side (RFC 7641 §3): registration, notifications as an async
// iterable, stale ones dropped by sequence number and time (§3.4), re-registration when
// Max-Age runs out without a notification (§3.3.1), and cancellation either actively (a
// GET with Observe = 1, §3.6) or by forgetting, so the next notification gets RST. An
// explicit state machine: `active` only while a Max-Age timer bounds the silence.

import type { Client, CoapResponse, SendOptions } from './client.js';
import { codeClass } from './codes.js';
import { ClosedError, IllegalTransitionError, RequestTimeoutError, RetransmitTimeoutError } from './errors.js';
import { formatPeer, type Clock, type Logger, type PeerAddress, type TimerHandle } from './interfaces.js';
import type { MessageDraft } from './message-layer.js';
import { isNewer, OBSERVE_DEREGISTER, OBSERVE_REGISTER } from './observe-sequence.js';
import { getUintOption, OptionNumber, uintOption, withOption } from './options.js';

export interface ObserveOptions {
  /** Notifications kept for a slow reader; the oldest is dropped beyond this. */
  readonly maxQueue?: number;
  /** Extra wait past Max-Age before re-registering. */
  readonly reregisterMarginMs?: number;
  /** Called when a registration or renewal went unanswered, before it is tried again: a
   * DTLS endpoint drops its session with the server, so the retry handshakes anew (a
   * restarted server silently drops records of a session it lost). */
  readonly onRegistrationTimeout?: () => void;
}

interface ObservationDeps {
  readonly client: Client;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly peer: PeerAddress;
  readonly draft: Omit<MessageDraft, 'token'>;
  readonly sendOptions: SendOptions;
  /** Completes a notification whose representation spans blocks (RFC 7959 §2.6). */
  readonly complete: (response: CoapResponse) => Promise<CoapResponse>;
}

/** registering: the first GET with Observe = 0 is out; active: registered, the Max-Age
 * timer armed; renewing: Max-Age ran out silent, the re-registration (same token) is out;
 * ended: for good (the owner observes anew if it still wants to). */
export type ObservationState = 'registering' | 'active' | 'renewing' | 'ended';

const allowedTransitions: Record<ObservationState, readonly ObservationState[]> = {
  registering: ['active', 'ended'],
  active: ['renewing', 'ended'],
  renewing: ['active', 'ended'],
  ended: [],
};

const DEFAULT_MAX_AGE_S = 60;
const REGISTRATION_RETRIES = 3;

/** A 2.xx with Observe: the server keeps (or took) the registration (RFC 7641 §3.2, §4.1). */
const isRegistered = (response: CoapResponse): boolean =>
  codeClass(response.code) === 2 && getUintOption(response.options, OptionNumber.Observe) !== undefined;

export class Observation implements AsyncIterable<CoapResponse> {
  readonly token: Buffer;
  readonly #deps: ObservationDeps;
  readonly #maxQueue: number;
  readonly #marginMs: number;
  readonly #onTimeout: () => void;
  readonly #queue: CoapResponse[] = [];
  readonly #waiting: { resolve: (result: IteratorResult<CoapResponse>) => void; reject: (error: Error) => void }[] = [];
  #state: ObservationState = 'registering';
  #error: Error | undefined;
  /** The freshness baseline of §3.4: the newest accepted sequence number and its arrival. */
  #last: { sequence: number; at: number } | undefined;
  /** Max-Age of the newest accepted representation: how long `active` may stay silent. */
  #maxAgeSeconds = DEFAULT_MAX_AGE_S;
  #maxAgeTimer: TimerHandle | undefined;
  #unlisten: () => void = () => {};

  constructor(deps: ObservationDeps, options: ObserveOptions = {}) {
    this.#deps = deps;
    this.token = deps.client.newToken(deps.peer);
    this.#maxQueue = options.maxQueue ?? 32;
    this.#marginMs = options.reregisterMarginMs ?? 5000;
    this.#onTimeout = options.onRegistrationTimeout ?? (() => {});
  }

  get state(): ObservationState {
    return this.#state;
  }

  /** Registers; resolves with the first response. Without Observe in it the resource is
   * not observable (or the server is full): that response is all there will be. */
  async start(): Promise<CoapResponse> {
    this.#unlisten = this.#deps.client.listen(
      this.#deps.peer, this.token, (response) => this.#onNotification(response), () => this.#end(new ClosedError()),
    );
    let first: CoapResponse;
    try {
      first = await this.#register();
    } catch (error) {
      this.#end(error as Error);
      throw error;
    }
    if (this.#state !== 'registering') return first; // cancelled or forgotten meanwhile
    if (!isRegistered(first)) {
      this.#end();
      return first;
    }
    // The first response is start()'s result; the iterator yields what comes after it.
    this.#takeBaseline(first);
    this.#transition('active');
    return first;
  }

  /** §3.6: ask the server to forget us with a GET carrying Observe = 1. */
  async cancel(): Promise<void> {
    if (this.#state === 'ended') return;
    this.#end();
    const options = withOption(this.#deps.draft.options, OptionNumber.Observe, uintOption(OptionNumber.Observe, OBSERVE_DEREGISTER));
    try {
      await this.#deps.client.request(this.#deps.peer, { ...this.#deps.draft, options }, { ...this.#deps.sendOptions, token: this.token });
    } catch (error) {
      this.#deps.logger.debug({ err: error }, 'active cancellation got no answer');
    }
  }

  /** Stops listening; the next notification is answered with RST (§3.6). */
  forget(): void {
    this.#end();
  }

  [Symbol.asyncIterator](): AsyncIterator<CoapResponse> {
    return {
      next: () => {
        const value = this.#queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.#state === 'ended') {
          return this.#error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.#error);
        }
        return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
      },
      return: () => {
        this.forget();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Moves to `to`, refusing moves the machine does not have, and runs its entry actions. */
  #transition(to: ObservationState): void {
    const from = this.#state;
    if (!allowedTransitions[from].includes(to)) throw new IllegalTransitionError('observation', from, to);
    this.#state = to;
    this.#deps.logger.debug({ peer: formatPeer(this.#deps.peer), token: this.token.toString('hex'), from, to }, `observation ${from} -> ${to}`);
    switch (to) {
      case 'active':
        this.#armMaxAge();
        return;
      case 'renewing':
        this.#clearMaxAge();
        // §3.3.1: no fresh notification within Max-Age: register again, same token.
        this.#register().then((response) => this.#renewed(response), (error: Error) => this.#end(error));
        return;
      case 'ended':
        this.#unlisten();
        this.#clearMaxAge();
        for (const waiter of this.#waiting.splice(0)) {
          if (this.#error === undefined) waiter.resolve({ value: undefined, done: true });
          else waiter.reject(this.#error);
        }
        return;
      case 'registering':
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /** Sends the registration; an exchange lost to timeouts is tried again, a few times,
   * since an observer that silently stops is worse than one that tries once more. */
  async #register(): Promise<CoapResponse> {
    const options = withOption(this.#deps.draft.options, OptionNumber.Observe, uintOption(OptionNumber.Observe, OBSERVE_REGISTER));
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.#deps.client.request(
          this.#deps.peer, { ...this.#deps.draft, options }, { ...this.#deps.sendOptions, token: this.token },
        );
        return await this.#deps.complete(response);
      } catch (error) {
        const timedOut = error instanceof RetransmitTimeoutError || error instanceof RequestTimeoutError;
        if (!timedOut || attempt >= REGISTRATION_RETRIES || this.#state === 'ended') throw error;
        this.#onTimeout();
      }
    }
  }

  /** The answer to a re-registration. */
  #renewed(response: CoapResponse): void {
    if (this.#state !== 'renewing') return;
    this.#push(response);
    if (!isRegistered(response)) {
      // §3.2: the server keeps no registration for us now (an error, or full): ended, so
      // the owner observes anew rather than wait on a relation that does not exist.
      this.#end();
      return;
    }
    // §3.4 orders notifications within one registration. The renewal's answer starts
    // afresh: a restarted server numbers from wherever it starts, so this answer is the
    // new baseline whatever its number, never dropped as stale.
    this.#takeBaseline(response);
    this.#transition('active');
  }

  #onNotification(response: CoapResponse): void {
    if (this.#state === 'ended') return;
    this.#deps.complete(response).then(
      (complete) => this.#notified(complete),
      (error: Error) => this.#deps.logger.debug({ err: error }, 'could not complete a block-wise notification'),
    );
  }

  #notified(response: CoapResponse): void {
    if (this.#state === 'ended') return;
    if (!isRegistered(response)) {
      // §3.2: a notification without Observe, or an error, ends the observation.
      this.#push(response);
      this.#end();
      return;
    }
    const sequence = getUintOption(response.options, OptionNumber.Observe)!;
    if (this.#last !== undefined && !isNewer(this.#last.sequence, this.#last.at, sequence, this.#deps.clock.now())) return;
    this.#takeBaseline(response);
    this.#push(response);
    // A fresh notification restarts the wait (§3.3.1); while registering or renewing, the
    // answer to the registration arms it.
    if (this.#state === 'active') this.#armMaxAge();
  }

  #takeBaseline(response: CoapResponse): void {
    this.#last = { sequence: getUintOption(response.options, OptionNumber.Observe)!, at: this.#deps.clock.now() };
    this.#maxAgeSeconds = getUintOption(response.options, OptionNumber.MaxAge) ?? DEFAULT_MAX_AGE_S;
  }

  #push(response: CoapResponse): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: response, done: false });
      return;
    }
    this.#queue.push(response);
    // Only the newest states matter to an observer (§1.3): drop the oldest.
    if (this.#queue.length > this.#maxQueue) this.#queue.shift();
  }

  #armMaxAge(): void {
    this.#clearMaxAge();
    this.#maxAgeTimer = this.#deps.clock.setTimeout(() => {
      this.#maxAgeTimer = undefined;
      if (this.#state === 'active') this.#transition('renewing');
    }, this.#maxAgeSeconds * 1000 + this.#marginMs);
  }

  #clearMaxAge(): void {
    if (this.#maxAgeTimer !== undefined) this.#deps.clock.clearTimeout(this.#maxAgeTimer);
    this.#maxAgeTimer = undefined;
  }

  #end(error?: Error): void {
    if (this.#state === 'ended') return;
    this.#error = error;
    this.#transition('ended');
  }
}
