// The page's CoAP client over WebSocket (RFC 8323): CSM first (§5.3), requests matched by
// token (no message IDs: the connection is reliable, §2), Observe (RFC 7641 as §7.1
// amends it: no ACKs) with deregistration, Block2 (RFC 7959) when a body exceeds the
// gateway's Max-Message-Size, Ping/Pong to find a dead connection (§5.4), and reconnection
// with a growing delay that registers every observation again. Every table is bounded.

import {
  blockValue, Code, codeText, ContentFormat, decodeFrame, encodeFrame, isSuccess, Option, optionOf, readBlock, readUint,
  textValue, uintValue, uriOptions, type CoapOption, type Frame,
} from './coap-frame.js';

export const LIMITS = {
  /** Requests waiting for their answer. */
  pendingRequests: 256,
  observations: 128,
  /** A body put together from Block2 blocks. */
  bodyBytes: 8 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  firstBackoffMs: 500,
  maxBackoffMs: 30_000,
  pingIntervalMs: 25_000,
  /** What this page accepts in one message (our CSM says so, §5.3.1). */
  maxMessageSize: 4 * 1024 * 1024,
} as const;

/** RFC 8323 §5.3.1: the Max-Message-Size to assume before the peer's CSM says otherwise. */
const DEFAULT_MAX_MESSAGE_SIZE = 1152;

export type ConnectionState = 'connecting' | 'open' | 'closed';

export class CoapError extends Error {
  override readonly name = 'CoapError';
  /** "4.04"; "0.00" when no response came (connection lost, timeout, a bound). */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export interface CoapReply {
  readonly code: number;
  readonly options: readonly CoapOption[];
  readonly payload: Uint8Array;
}

export const replyText = (reply: CoapReply): string => new TextDecoder().decode(reply.payload);
export const replyJson = <T>(reply: CoapReply): T => JSON.parse(replyText(reply)) as T;

interface Pending {
  readonly resolve: (frame: Frame) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

interface Observation {
  readonly path: string;
  readonly onValue: (reply: CoapReply, first: boolean) => void;
  readonly onError: (error: CoapError) => void;
  token: string | undefined;
  /** No answer yet to the latest registration: the next one is the whole state again. */
  fresh: boolean;
}

export interface ClientOptions {
  readonly onState?: (state: ConnectionState) => void;
  /** The connection closed before it opened (the upgrade refused: a lost session). */
  readonly onRefused?: () => void;
}

export class CoapWebSocketClient {
  readonly #url: string;
  readonly #options: ClientOptions;
  #socket: WebSocket | undefined;
  #state: ConnectionState = 'closed';
  #stopped = true;
  #opened = false;
  #backoffMs: number = LIMITS.firstBackoffMs;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  #pongDue = false;
  #peerMaxMessageSize = DEFAULT_MAX_MESSAGE_SIZE;
  #nextToken = Math.floor(Math.random() * 0xffffffff);
  readonly #pending = new Map<string, Pending>();
  readonly #observations = new Set<Observation>();
  readonly #observationsByToken = new Map<string, Observation>();

  constructor(url: string, options: ClientOptions = {}) {
    this.#url = url;
    this.#options = options;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  /** Release (§5.5), then close; observations are forgotten. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#observations.clear();
    this.#observationsByToken.clear();
    if (this.#socket?.readyState === WebSocket.OPEN) this.#send({ code: Code.Release, token: new Uint8Array(), options: [], payload: new Uint8Array() });
    this.#socket?.close(1000);
    this.#closed();
  }

  /** A request; a 2.xx answer resolves (its Block2 blocks put together), others reject
   * with CoapError carrying the code and the diagnostic payload. */
  async request(method: number, path: string, body?: unknown): Promise<CoapReply> {
    const payload = body === undefined ? new Uint8Array() : textValue(JSON.stringify(body));
    const options = [...uriOptions(path), { number: Option.Accept, value: uintValue(ContentFormat.json) }];
    if (body !== undefined) options.push({ number: Option.ContentFormat, value: uintValue(ContentFormat.json) });
    const frame = await this.#exchange(method, options, payload);
    return this.#whole(frame, path);
  }

  /** Observes `path` (GET with Observe 0) until the returned function is called, which
   * deregisters (GET with Observe 1 on the same token, RFC 7641 §3.6). Registered again
   * after every reconnection; `first` marks each registration's first answer (a resource
   * whose notifications carry only what is new, like logs, starts over from it). Errors
   * (4.04, a refused registration) go to onError. */
  observe(path: string, onValue: (reply: CoapReply, first: boolean) => void, onError: (error: CoapError) => void): () => void {
    if (this.#observations.size >= LIMITS.observations) {
      onError(new CoapError('0.00', `more than ${LIMITS.observations} observations`));
      return () => {};
    }
    const observation: Observation = { path, onValue, onError, token: undefined, fresh: true };
    this.#observations.add(observation);
    if (this.#state === 'open') this.#register(observation);
    return () => {
      if (!this.#observations.delete(observation)) return;
      const token = observation.token;
      if (token === undefined) return;
      this.#observationsByToken.delete(token);
      if (this.#state === 'open') {
        this.#send({ code: Code.GET, token: tokenBytes(token), options: [...uriOptions(path), { number: Option.Observe, value: uintValue(1) }, acceptJson()], payload: new Uint8Array() });
      }
    };
  }

  #register(observation: Observation): void {
    const token = this.#newToken();
    observation.token = token;
    observation.fresh = true;
    this.#observationsByToken.set(token, observation);
    this.#send({ code: Code.GET, token: tokenBytes(token), options: [...uriOptions(observation.path), { number: Option.Observe, value: new Uint8Array() }, acceptJson()], payload: new Uint8Array() });
  }

  #exchange(code: number, options: CoapOption[], payload: Uint8Array): Promise<Frame> {
    if (this.#state !== 'open') return Promise.reject(new CoapError('0.00', 'not connected to the gateway'));
    if (this.#pending.size >= LIMITS.pendingRequests) return Promise.reject(new CoapError('0.00', `more than ${LIMITS.pendingRequests} requests waiting`));
    const token = this.#newToken();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token);
        reject(new CoapError('0.00', 'no answer from the gateway in time'));
      }, LIMITS.requestTimeoutMs);
      this.#pending.set(token, { resolve, reject, timer });
      this.#send({ code, token: tokenBytes(token), options, payload });
    });
  }

  /** A 2.xx frame with its later blocks fetched (RFC 7959 §2.4), or a CoapError. */
  async #whole(first: Frame, path: string): Promise<CoapReply> {
    if (!isSuccess(first.code)) throw errorOf(first);
    const block = optionOf(first, Option.Block2);
    if (block === undefined || !readBlock(block.value).more) return first;
    const parts = [first.payload];
    let total = first.payload.length;
    let { num, szx } = readBlock(block.value);
    for (;;) {
      num++;
      const frame = await this.#exchange(Code.GET, [...uriOptions(path), acceptJson(), { number: Option.Block2, value: blockValue({ num, more: false, szx }) }], new Uint8Array());
      if (!isSuccess(frame.code)) throw errorOf(frame);
      total += frame.payload.length;
      if (total > LIMITS.bodyBytes) throw new CoapError('0.00', `body over ${LIMITS.bodyBytes} bytes`);
      parts.push(frame.payload);
      const next = optionOf(frame, Option.Block2);
      if (next === undefined || !readBlock(next.value).more) break;
      szx = readBlock(next.value).szx;
    }
    const payload = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      payload.set(part, at);
      at += part.length;
    }
    return { code: first.code, options: first.options.filter((option) => option.number !== Option.Block2), payload };
  }

  #connect(): void {
    this.#setState('connecting');
    this.#opened = false;
    const socket = new WebSocket(this.#url, 'coap');
    socket.binaryType = 'arraybuffer';
    this.#socket = socket;
    socket.onopen = () => {
      this.#opened = true;
      // §5.3: the initiator sends its CSM first and need not wait for the peer's.
      this.#send({ code: Code.CSM, token: new Uint8Array(), options: [{ number: Option.MaxMessageSize, value: uintValue(LIMITS.maxMessageSize) }], payload: new Uint8Array() });
      this.#backoffMs = LIMITS.firstBackoffMs;
      this.#setState('open');
      this.#ping = setInterval(() => this.#keepAlive(), LIMITS.pingIntervalMs);
      for (const observation of this.#observations) this.#register(observation);
    };
    socket.onmessage = (event) => {
      if (!(event.data instanceof ArrayBuffer)) return this.#abort('text message; CoAP over WebSocket is binary (RFC 8323 §4.2)');
      let frame: Frame;
      try {
        frame = decodeFrame(new Uint8Array(event.data));
      } catch (error) {
        return this.#abort(`malformed message: ${(error as Error).message}`);
      }
      this.#receive(frame);
    };
    socket.onclose = () => {
      if (this.#socket !== socket) return;
      const refused = !this.#opened;
      this.#closed();
      if (refused) this.#options.onRefused?.();
      if (!this.#stopped) this.#scheduleReconnect();
    };
  }

  #receive(frame: Frame): void {
    const token = tokenKey(frame.token);
    switch (frame.code) {
      case Code.CSM: {
        const size = optionOf(frame, Option.MaxMessageSize);
        if (size !== undefined) this.#peerMaxMessageSize = readUint(size.value);
        return;
      }
      case Code.Ping:
        this.#send({ code: Code.Pong, token: frame.token, options: [], payload: new Uint8Array() });
        return;
      case Code.Pong:
        this.#pongDue = false;
        return;
      case Code.Release:
      case Code.Abort:
        this.#socket?.close(1000);
        return;
    }
    const pending = this.#pending.get(token);
    if (pending !== undefined) {
      this.#pending.delete(token);
      clearTimeout(pending.timer);
      pending.resolve(frame);
      return;
    }
    const observation = this.#observationsByToken.get(token);
    if (observation === undefined) return;
    if (!isSuccess(frame.code)) {
      // An error ends the observation (RFC 7641 §3.2).
      this.#observationsByToken.delete(token);
      this.#observations.delete(observation);
      observation.onError(errorOf(frame));
      return;
    }
    const first = observation.fresh;
    observation.fresh = false;
    this.#whole(frame, observation.path).then(
      (reply) => { if (this.#observations.has(observation)) observation.onValue(reply, first); },
      (error: Error) => { if (this.#observations.has(observation)) observation.onError(error instanceof CoapError ? error : new CoapError('0.00', error.message)); },
    );
  }

  /** A Ping every interval; no Pong by the next one: the connection is dead (§5.4). */
  #keepAlive(): void {
    if (this.#pongDue) return this.#socket?.close(4000, 'no pong');
    this.#pongDue = true;
    this.#send({ code: Code.Ping, token: new Uint8Array(), options: [], payload: new Uint8Array() });
  }

  #abort(reason: string): void {
    // §5.6: Abort, with the reason as the diagnostic payload, then close.
    this.#send({ code: Code.Abort, token: new Uint8Array(), options: [], payload: textValue(reason) });
    this.#socket?.close(1002, reason.slice(0, 100));
  }

  #send(frame: Frame): void {
    const bytes = encodeFrame(frame);
    if (bytes.length > this.#peerMaxMessageSize) {
      const pending = this.#pending.get(tokenKey(frame.token));
      this.#pending.delete(tokenKey(frame.token));
      pending?.reject(new CoapError('0.00', `request of ${bytes.length} bytes over the gateway's Max-Message-Size`));
      return;
    }
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(bytes);
  }

  #closed(): void {
    clearInterval(this.#ping);
    this.#pongDue = false;
    this.#socket = undefined;
    this.#peerMaxMessageSize = DEFAULT_MAX_MESSAGE_SIZE;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new CoapError('0.00', 'connection to the gateway lost'));
    }
    this.#pending.clear();
    this.#observationsByToken.clear();
    for (const observation of this.#observations) observation.token = undefined;
    this.#setState('closed');
  }

  #scheduleReconnect(): void {
    // Jittered so that many pages do not come back at once after a gateway restart.
    const wait = this.#backoffMs * (0.8 + Math.random() * 0.4);
    this.#backoffMs = Math.min(this.#backoffMs * 2, LIMITS.maxBackoffMs);
    this.#retry = setTimeout(() => { if (!this.#stopped) this.#connect(); }, wait);
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onState?.(state);
  }

  #newToken(): string {
    this.#nextToken = (this.#nextToken + 1) >>> 0;
    return this.#nextToken.toString(16).padStart(8, '0');
  }
}

const acceptJson = (): CoapOption => ({ number: Option.Accept, value: uintValue(ContentFormat.json) });

const tokenKey = (token: Uint8Array): string => Array.from(token, (byte) => byte.toString(16).padStart(2, '0')).join('');

const tokenBytes = (key: string): Uint8Array => Uint8Array.from(key.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));

/** The error of a non-2.xx answer: its code and diagnostic payload (RFC 7252 §5.5.2). */
function errorOf(frame: Frame): CoapError {
  const diagnostic = new TextDecoder().decode(frame.payload).slice(0, 300);
  return new CoapError(codeText(frame.code), diagnostic === '' ? codeText(frame.code) : `${codeText(frame.code)} ${diagnostic}`);
}
