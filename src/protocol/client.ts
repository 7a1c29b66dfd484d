// The client side of the endpoint: open exchanges keyed by (peer, token), matching of
// piggybacked and separate responses (RFC 7252 §5.2, §5.3.2), tokens random and unique
// per peer among open exchanges (§5.3.1), time limits and cancellation.

import { CancelledError, ClosedError, QueueFullError, RequestTimeoutError } from './errors.js';
import type { Clock, Logger, Peer, PeerAddress, Random } from './interfaces.js';
import { formatPeer, peerKey } from './interfaces.js';
import { emptyMessage, MessageType, type Message } from './message.js';
import type { MessageDraft, MessageLayer } from './message-layer.js';
import { getUintOption, OptionNumber, type CoapOption } from './options.js';

export interface CoapResponse {
  readonly code: number;
  readonly options: readonly CoapOption[];
  readonly payload: Buffer;
  readonly contentFormat: number | undefined;
  readonly peer: Peer;
  readonly type: MessageType;
}

export interface SendOptions {
  readonly confirmable?: boolean;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** A token to use instead of a fresh random one (e.g. to cancel an observation). */
  readonly token?: Buffer;
}

/** What the client does with a message that matches an open exchange. */
interface Exchange {
  deliver(message: Message, peer: Peer): void;
  /** The endpoint is closing: end the exchange. */
  close(): void;
}

export function toResponse(message: Message, peer: Peer): CoapResponse {
  return {
    code: message.code,
    options: message.options,
    payload: message.payload,
    contentFormat: getUintOption(message.options, OptionNumber.ContentFormat),
    peer,
    type: message.type,
  };
}

export interface ClientOptions {
  readonly messageLayer: MessageLayer;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  /** Bytes of a fresh token, 1..8; 4 gives 2^32 guesses to an off-path attacker (§5.3.1). */
  readonly tokenLength: number;
  readonly maxOpenExchanges: number;
}

export class Client {
  readonly #options: ClientOptions;
  /** Open exchanges by `peer|port#tokenhex`: added by `request`, removed when it settles
   * (response, timeout, reset, cancel). At most `maxOpenExchanges`. */
  readonly #exchanges = new Map<string, Exchange>();
  /** Observations by the same key: added by `listen`, removed by its returned function. */
  readonly #listeners = new Map<string, Exchange>();
  #closed = false;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  get openExchanges(): number {
    return this.#exchanges.size;
  }

  /** A token unused among this peer's open exchanges. */
  newToken(peer: PeerAddress): Buffer {
    for (;;) {
      const token = this.#options.random.bytes(this.#options.tokenLength);
      const key = `${peerKey(peer)}#${token.toString('hex')}`;
      if (!this.#exchanges.has(key) && !this.#listeners.has(key)) return token;
    }
  }

  request(peer: PeerAddress, draft: Omit<MessageDraft, 'token'>, options: SendOptions = {}): Promise<CoapResponse> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (options.signal?.aborted === true) return Promise.reject(new CancelledError());
    const { clock, messageLayer } = this.#options;
    if (this.#exchanges.size >= this.#options.maxOpenExchanges) {
      return Promise.reject(new QueueFullError(`more than ${this.#options.maxOpenExchanges} open exchanges`));
    }
    const token = options.token ?? this.newToken(peer);
    const key = `${peerKey(peer)}#${token.toString('hex')}`;
    const confirmable = options.confirmable ?? true;
    const timeoutMs = options.timeoutMs ?? messageLayer.times.maxTransmitWait;

    return new Promise<CoapResponse>((resolve, reject) => {
      const retransmission = new AbortController();
      let acknowledged = !confirmable;
      let settled = false;
      const settle = (error: Error | undefined, response?: CoapResponse): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#exchanges.delete(key);
        // Only a CON still being retransmitted needs stopping; abort() costs ~10 µs.
        if (!acknowledged) retransmission.abort();
        if (error === undefined) resolve(response!);
        else reject(error);
      };
      const onAbort = (): void => settle(new CancelledError());
      const timer = clock.setTimeout(
        () => settle(new RequestTimeoutError(`no response from ${formatPeer(peer)} within ${timeoutMs} ms`)), timeoutMs,
      );
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#exchanges.set(key, {
        deliver: (message, from) => settle(undefined, toResponse(message, from)),
        close: () => settle(new ClosedError()),
      });

      const message: MessageDraft = { ...draft, token };
      if (!confirmable) {
        try {
          messageLayer.sendNonConfirmable(peer, message);
        } catch (error) {
          settle(error as Error);
        }
        return;
      }
      messageLayer.sendConfirmable(peer, message, retransmission.signal).then(
        ({ message: ack, peer: from }) => {
          acknowledged = true;
          // A piggybacked response (§5.2.1); an empty ACK means a separate one follows.
          if (ack.code !== 0 && ack.token.equals(token)) settle(undefined, toResponse(ack, from));
        },
        (error: Error) => settle(error),
      );
    });
  }

  /** Delivers every later response with `token` from `peer` that no request is waiting
   * for (Observe notifications, RFC 7641 §3.2) until the returned function is called. */
  listen(peer: PeerAddress, token: Buffer, deliver: (response: CoapResponse) => void, onClose: () => void): () => void {
    const key = `${peerKey(peer)}#${token.toString('hex')}`;
    if (this.#closed) throw new ClosedError();
    if (this.#listeners.size >= this.#options.maxOpenExchanges) throw new QueueFullError(`more than ${this.#options.maxOpenExchanges} observations`);
    const listener: Exchange = { deliver: (message, from) => deliver(toResponse(message, from)), close: onClose };
    this.#listeners.set(key, listener);
    return () => {
      if (this.#listeners.get(key) === listener) this.#listeners.delete(key);
    };
  }

  /** Sends a request that is answered by several responses on its token (Q-Block2, RFC
   * 9177 §4.4 and §6): each (piggybacked, separate, CON or NON) reaches `deliver` until
   * the returned function is called; `fail` hears of a CON that went unacknowledged or
   * was reset. Counts as an observation against the bound of listeners. */
  stream(
    peer: PeerAddress, draft: Omit<MessageDraft, 'token'>, confirmable: boolean,
    deliver: (response: CoapResponse) => void, fail: (error: Error) => void,
  ): () => void {
    const token = this.newToken(peer);
    let open = true;
    const stopListening = this.listen(peer, token, deliver, () => { if (open) fail(new ClosedError()); });
    const retransmission = new AbortController();
    const stop = (): void => {
      open = false;
      stopListening();
      retransmission.abort();
    };
    const message: MessageDraft = { ...draft, token };
    if (!confirmable) {
      try {
        this.#options.messageLayer.sendNonConfirmable(peer, message);
      } catch (error) {
        stop();
        fail(error as Error);
      }
      return stop;
    }
    this.#options.messageLayer.sendConfirmable(peer, message, retransmission.signal).then(
      ({ message: ack, peer: from }) => {
        if (open && ack.code !== 0 && ack.token.equals(token)) deliver(toResponse(ack, from));
      },
      (error: Error) => { if (open) fail(error); },
    );
    return stop;
  }

  /** Offers a response (CON or NON) to the open exchanges, then to the listeners; false
   * when none wants it. */
  handleResponse(message: Message, peer: Peer): boolean {
    const key = `${peerKey(peer)}#${message.token.toString('hex')}`;
    const exchange = this.#exchanges.get(key) ?? this.#listeners.get(key);
    if (exchange === undefined) return false;
    // §5.2.2: a separate CON response is acknowledged.
    if (message.type === MessageType.CON) {
      this.#options.messageLayer.reply(peer, emptyMessage(MessageType.ACK, message.messageId));
    }
    exchange.deliver(message, peer);
    return true;
  }

  close(): void {
    this.#closed = true;
    for (const exchange of [...this.#exchanges.values(), ...this.#listeners.values()]) exchange.close();
    this.#listeners.clear();
  }
}
