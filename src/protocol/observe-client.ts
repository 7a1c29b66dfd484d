// Observe on the client side (RFC 7641 §3): registration, notifications as an async
// iterable, stale ones dropped by sequence number and time (§3.4), re-registration when
// Max-Age runs out without a notification (§3.3.1), and cancellation either actively (a
// GET with Observe = 1, §3.6) or by forgetting, so the next notification gets RST.

import type { Client, CoapResponse, SendOptions } from './client.js';
import { codeClass } from './codes.js';
import { ClosedError, RequestTimeoutError, RetransmitTimeoutError } from './errors.js';
import type { Clock, Logger, PeerAddress, TimerHandle } from './interfaces.js';
import type { MessageDraft } from './message-layer.js';
import { isNewer, OBSERVE_DEREGISTER, OBSERVE_REGISTER } from './observe-sequence.js';
import { getUintOption, OptionNumber, uintOption, withOption } from './options.js';

export interface ObserveOptions {
  /** Notifications kept for a slow reader; the oldest is dropped beyond this. */
  readonly maxQueue?: number;
  /** Extra wait past Max-Age before re-registering. */
  readonly reregisterMarginMs?: number;
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

type ObservationState = 'registering' | 'active' | 'ended';

const DEFAULT_MAX_AGE_S = 60;
const REGISTRATION_RETRIES = 3;

export class Observation implements AsyncIterable<CoapResponse> {
  readonly token: Buffer;
  readonly #deps: ObservationDeps;
  readonly #maxQueue: number;
  readonly #marginMs: number;
  readonly #queue: CoapResponse[] = [];
  readonly #waiting: { resolve: (result: IteratorResult<CoapResponse>) => void; reject: (error: Error) => void }[] = [];
  #state: ObservationState = 'registering';
  #error: Error | undefined;
  #last: { sequence: number; at: number } | undefined;
  #maxAgeTimer: TimerHandle | undefined;
  #unlisten: () => void = () => {};

  constructor(deps: ObservationDeps, options: ObserveOptions = {}) {
    this.#deps = deps;
    this.token = deps.client.newToken(deps.peer);
    this.#maxQueue = options.maxQueue ?? 32;
    this.#marginMs = options.reregisterMarginMs ?? 5000;
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
    try {
      const first = await this.#register();
      if (this.#state === 'registering') this.#state = 'active';
      this.#accept(first, true);
      return first;
    } catch (error) {
      this.#end(error as Error);
      throw error;
    }
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
      }
    }
  }

  #onNotification(response: CoapResponse): void {
    if (this.#state === 'ended') return;
    this.#deps.complete(response).then(
      (complete) => this.#accept(complete, false),
      (error: Error) => this.#deps.logger.debug({ err: error }, 'could not complete a block-wise notification'),
    );
  }

  #accept(response: CoapResponse, first: boolean): void {
    if (this.#state === 'ended') return;
    const sequence = getUintOption(response.options, OptionNumber.Observe);
    const now = this.#deps.clock.now();
    if (sequence === undefined || codeClass(response.code) !== 2) {
      // §3.2: a response without Observe, or an error, ends the observation.
      if (!first) this.#push(response);
      this.#end();
      return;
    }
    if (!first && this.#last !== undefined && !isNewer(this.#last.sequence, this.#last.at, sequence, now)) return;
    this.#last = { sequence, at: now };
    // The first response is start()'s result; the iterator yields what comes after it.
    if (!first) this.#push(response);
    this.#armMaxAge(getUintOption(response.options, OptionNumber.MaxAge) ?? DEFAULT_MAX_AGE_S);
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

  #armMaxAge(maxAgeSeconds: number): void {
    const { clock } = this.#deps;
    if (this.#maxAgeTimer !== undefined) clock.clearTimeout(this.#maxAgeTimer);
    this.#maxAgeTimer = clock.setTimeout(() => {
      this.#maxAgeTimer = undefined;
      // §3.3.1: no fresh notification within Max-Age: register again, same token.
      this.#register().then(
        (response) => this.#accept(response, false),
        (error: Error) => this.#end(error),
      );
    }, maxAgeSeconds * 1000 + this.#marginMs);
  }

  #end(error?: Error): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#error = error;
    this.#unlisten();
    if (this.#maxAgeTimer !== undefined) this.#deps.clock.clearTimeout(this.#maxAgeTimer);
    this.#maxAgeTimer = undefined;
    for (const waiter of this.#waiting.splice(0)) {
      if (error === undefined) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(error);
    }
  }
}

