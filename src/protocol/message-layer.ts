// The message layer of RFC 7252 §4: CON retransmission with the §4.8 parameters, ACK and
// RST matching, deduplication for EXCHANGE_LIFETIME with the cached reply re-sent to a
// duplicate CON, CoAP ping, rejection of what cannot be processed, message IDs per peer,
// NSTART (§4.7) with a bounded queue per peer, and what each peer's link is learnt to need
// (RTT samples; with CoCoA, the timeouts). It knows nothing of tokens or requests.

import { decode, encode } from './codec.js';
import { codeClass, Method } from './codes.js';
import { CancelledError, ClosedError, FormatError, QueueFullError, ResetError, RetransmitTimeoutError } from './errors.js';
import { ExpiringCache } from './expiring-cache.js';
import type { Clock, Logger, Peer, PeerAddress, Random, TimerHandle, Transport } from './interfaces.js';
import { formatPeer, peerKey } from './interfaces.js';
import { emptyMessage, MessageType, type Message } from './message.js';
import { checkParameters, DEFAULT_PARAMETERS, deriveTimes, type DerivedTimes, type TransmissionParameters } from './parameters.js';
import { addSample, aged, backoffFactor, initialEstimate, sampleKind, type LinkEstimate, type RtoBounds } from './rto-estimator.js';
import { silentLogger, systemClock, systemRandom } from './runtime.js';

/** A message as the layers above hand it down: the message layer picks type and ID. */
export type MessageDraft = Omit<Message, 'type' | 'messageId'>;

export interface MessageLayerLimits {
  /** Deduplication entries kept (each remembers a (peer, message ID) and our reply). */
  readonly dedupEntries: number;
  readonly dedupBytes: number;
  /** CONs waiting for an NSTART slot, per peer. */
  readonly queuePerPeer: number;
  /** Peers whose message ID counter and link estimate are remembered (least recently
   * used go first; any idle for EXCHANGE_LIFETIME go too). */
  readonly peers: number;
}

export const DEFAULT_LIMITS: MessageLayerLimits = {
  dedupEntries: 20_000,
  dedupBytes: 16 * 1024 * 1024,
  queuePerPeer: 4096,
  peers: 10_000,
};

export interface MessageLayerOptions {
  readonly transport: Transport;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  readonly parameters?: Partial<TransmissionParameters>;
  readonly limits?: Partial<MessageLayerLimits>;
}

export interface MessageLayerHandler {
  /** A new (not duplicate) CON or NON request or response. For a CON the receiver calls
   * `reply` once, with an ACK (piggybacked or empty) or an RST. */
  message(message: Message, peer: Peer): void;
  /** An RST matching none of our CONs: typically the answer to a NON we sent. */
  reset(messageId: number, peer: Peer): void;
}

interface Outstanding {
  readonly key: string;
  readonly peer: PeerAddress;
  readonly bytes: Buffer;
  retransmissions: number;
  timeoutMs: number;
  /** When the first transmission went out: RTT samples and CoCoA's bounds count from it. */
  readonly sentAt: number;
  /** When the latest transmission went out: the transport's liveness probe asks whether
   * anything came since. */
  lastSentAt: number;
  /** What each timeout is multiplied by for the next: 2 (§4.2), or CoCoA's factor. */
  readonly backoff: number;
  timer: TimerHandle | undefined;
  readonly settle: (error: Error | undefined, ack?: Acknowledgement) => void;
}

/** The ACK that answered a CON, and who sent it (over DTLS, with its identity). */
export interface Acknowledgement {
  readonly message: Message;
  readonly peer: Peer;
}

interface Queued {
  readonly peer: PeerAddress;
  readonly draft: MessageDraft;
  readonly settle: (error: Error | undefined, ack?: Acknowledgement) => void;
  outstandingKey?: string;
}

interface PeerSlots {
  active: number;
  readonly queue: Queued[];
}

/** A message with a type and ID put on a draft, every field written out: a spread with
 * extra properties gives V8 a new object shape per message on the hot path. */
function withHeader(draft: MessageDraft, type: MessageType, messageId: number): Message {
  return { type, code: draft.code, messageId, token: draft.token, options: draft.options, payload: draft.payload };
}

const isSafeRequest = (code: number): boolean => code === Method.GET || code === Method.FETCH;

/** A deduplication entry: the reply we sent to this CON, once sent. */
type DedupEntry = Buffer | null;

/** What we remember of a peer between exchanges. */
interface PeerRecord {
  nextMessageId: number;
  link: LinkEstimate;
  lastActive: number;
}

export class MessageLayer {
  readonly parameters: TransmissionParameters;
  readonly times: DerivedTimes;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #limits: MessageLayerLimits;
  #handler: MessageLayerHandler = { message: () => {}, reset: () => {} };
  #closed = false;

  /** (peer, message ID) of every CON/NON received, for EXCHANGE_LIFETIME / NON_LIFETIME;
   * the value is our encoded reply to a CON once sent. Removed by expiry or when the
   * entry or byte bound evicts the oldest. */
  readonly #dedup: ExpiringCache<DedupEntry>;
  /** Our CONs awaiting ACK or RST, keyed by (peer, message ID); removed on ACK, RST,
   * the last retransmission's timeout, or cancellation. At most NSTART per peer. */
  readonly #outstanding = new Map<string, Outstanding>();
  /** NSTART accounting and the queue behind it, per peer; removed when idle. */
  readonly #slots = new Map<string, PeerSlots>();
  /** Next message ID and link estimate per peer, least recently active first; bounded by
   * `limits.peers`, and a peer idle for EXCHANGE_LIFETIME is dropped (its message IDs
   * can no longer collide at the peer, §4.4, and its estimate has aged to the default). */
  readonly #peers = new Map<string, PeerRecord>();
  readonly #rtoBounds: RtoBounds;

  constructor(options: MessageLayerOptions) {
    this.parameters = checkParameters({ ...DEFAULT_PARAMETERS, ...options.parameters });
    this.times = deriveTimes(this.parameters);
    this.#rtoBounds = { initialRtoMs: this.parameters.ackTimeout, minRtoMs: this.parameters.minRtoMs, maxRtoMs: this.parameters.maxRtoMs };
    this.#transport = options.transport;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#logger = options.logger ?? silentLogger;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#dedup = new ExpiringCache(this.#clock, this.#limits.dedupEntries, this.#limits.dedupBytes);
    this.#transport.onDatagram((data, peer) => this.#receive(data, peer));
  }

  setHandler(handler: MessageLayerHandler): void {
    this.#handler = handler;
  }

  /** Table sizes, for tests and metrics. */
  get sizes(): { dedup: number; dedupBytes: number; outstanding: number; queued: number } {
    let queued = 0;
    for (const slots of this.#slots.values()) queued += slots.queue.length;
    return { dedup: this.#dedup.size, dedupBytes: this.#dedup.bytes, outstanding: this.#outstanding.size, queued };
  }

  /** What this peer's link is learnt to need, from the ACKs and RSTs to our CONs (in
   * either congestion control mode; only 'cocoa' times retransmissions by it); undefined
   * for a peer not heard from lately. */
  rtt(peer: PeerAddress): LinkEstimate | undefined {
    const record = this.#peers.get(peerKey(peer));
    if (record === undefined) return undefined;
    return aged(record.link, this.#clock.now(), this.#rtoBounds);
  }

  /** Sends a CON, retransmitting until an ACK (resolved with it) or RST or the last
   * timeout (rejected). Waits for an NSTART slot first. */
  sendConfirmable(peer: PeerAddress, draft: MessageDraft, signal?: AbortSignal): Promise<Acknowledgement> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (signal?.aborted === true) return Promise.reject(new CancelledError());
    return new Promise<Acknowledgement>((resolve, reject) => {
      const key = peerKey(peer);
      let slots = this.#slots.get(key);
      if (slots === undefined) {
        slots = { active: 0, queue: [] };
        this.#slots.set(key, slots);
      }
      const onAbort = (): void => this.#cancel(queued, new CancelledError());
      const queued: Queued = {
        peer,
        draft,
        settle: (error, ack) => {
          signal?.removeEventListener('abort', onAbort);
          if (error === undefined) resolve(ack!);
          else reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (slots.active < this.parameters.nstart) {
        slots.active++;
        this.#start(queued);
      } else if (slots.queue.length >= this.#limits.queuePerPeer) {
        queued.settle(new QueueFullError(`more than ${this.#limits.queuePerPeer} CONs queued for ${formatPeer(peer)}`));
      } else {
        slots.queue.push(queued);
      }
    });
  }

  /** Sends a NON; returns its message ID (an RST to it reaches `handler.reset`). */
  sendNonConfirmable(peer: PeerAddress, draft: MessageDraft): number {
    if (this.#closed) throw new ClosedError();
    const messageId = this.#nextMessageId(peer);
    this.#transport.send(encode(withHeader(draft, MessageType.NON, messageId)), peer);
    return messageId;
  }

  /** Answers a received CON with an ACK or RST carrying its message ID; a duplicate of
   * that CON gets these same bytes again (§4.5). `answering` is the CON's code: safe
   * requests are not deduplicated, so there is nothing to remember for them, unless
   * answerLater() marked one: its empty ACK is remembered, a piggybacked answer ends the
   * mark. */
  reply(peer: PeerAddress, message: Message, answering?: number): void {
    if (this.#closed) return;
    const bytes = encode(message);
    const key = `${peerKey(peer)}#${message.messageId}`;
    if (answering === undefined || !isSafeRequest(answering) || message.code === 0) {
      this.#dedup.update(key, bytes, bytes.length + key.length);
    } else {
      this.#dedup.delete(key);
    }
    this.#transport.send(bytes, peer);
  }

  /** The CON `message` from `peer` may be answered by an empty ACK and a separate response
   * (§5.2.2): deduplicate it even when it is a safe request, so that a duplicate gets the
   * empty ACK again (or nothing while the handler runs), the handler runs once, and the
   * separate response goes out once (§4.5). Requests other than safe ones are
   * deduplicated already. */
  answerLater(peer: PeerAddress, message: Message): void {
    if (this.#closed || message.type !== MessageType.CON || !isSafeRequest(message.code)) return;
    const key = `${peerKey(peer)}#${message.messageId}`;
    if (this.#dedup.get(key) === undefined) this.#dedup.set(key, null, this.times.exchangeLifetime, key.length);
  }

  close(): void {
    this.#closed = true;
    for (const slots of this.#slots.values()) {
      for (const queued of slots.queue.splice(0)) queued.settle(new ClosedError());
    }
    for (const outstanding of [...this.#outstanding.values()]) this.#finish(outstanding, new ClosedError());
    this.#slots.clear();
    this.#dedup.clear();
  }

  #nextMessageId(peer: PeerAddress): number {
    const record = this.#peer(peer);
    const messageId = record.nextMessageId;
    record.nextMessageId = (messageId + 1) & 0xffff;
    return messageId;
  }

  /** The peer's record, created if need be and moved to the most recently active end;
   * the least recently active go past the bound or when idle. */
  #peer(peer: PeerAddress): PeerRecord {
    const key = peerKey(peer);
    const now = this.#clock.now();
    let record = this.#peers.get(key);
    if (record === undefined) {
      // §4.4: a random start makes a restarted endpoint unlikely to reuse recent IDs.
      record = { nextMessageId: (this.#random.float() * 0x10000) >>> 0, link: initialEstimate(this.#rtoBounds, now), lastActive: now };
    } else {
      this.#peers.delete(key);
      record.lastActive = now;
    }
    this.#peers.set(key, record);
    // Two at most per call keeps this O(1) and still drains the idle ones over time.
    for (let checked = 0; checked < 2; checked++) {
      const [oldestKey, oldest] = this.#peers.entries().next().value!;
      const idle = now - oldest.lastActive >= this.times.exchangeLifetime;
      if (this.#peers.size <= this.#limits.peers && !idle) break;
      this.#peers.delete(oldestKey);
    }
    return record;
  }

  #start(queued: Queued): void {
    const messageId = this.#nextMessageId(queued.peer);
    let bytes: Buffer;
    try {
      bytes = encode(withHeader(queued.draft, MessageType.CON, messageId));
    } catch (error) {
      this.#release(queued.peer);
      queued.settle(error as Error);
      return;
    }
    const key = `${peerKey(queued.peer)}#${messageId}`;
    queued.outstandingKey = key;
    const { ackTimeout, ackRandomFactor, congestionControl } = this.parameters;
    const rto = congestionControl === 'cocoa' ? this.#learntRto(queued.peer) : ackTimeout;
    const outstanding: Outstanding = {
      key,
      peer: queued.peer,
      bytes,
      retransmissions: 0,
      // §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR];
      // CoCoA keeps this dithering around its RTO.
      timeoutMs: rto * (1 + this.#random.float() * (ackRandomFactor - 1)),
      sentAt: this.#clock.now(),
      lastSentAt: this.#clock.now(),
      backoff: congestionControl === 'cocoa' ? backoffFactor(rto) : 2,
      timer: undefined,
      settle: queued.settle,
    };
    this.#outstanding.set(key, outstanding);
    this.#transport.send(bytes, queued.peer);
    this.#arm(outstanding);
  }

  /** The peer's RTO, aged to now (and kept so). */
  #learntRto(peer: PeerAddress): number {
    const record = this.#peer(peer);
    record.link = aged(record.link, this.#clock.now(), this.#rtoBounds);
    return record.link.rto;
  }

  #arm(outstanding: Outstanding): void {
    let delay = outstanding.timeoutMs;
    if (this.parameters.congestionControl === 'cocoa') {
      // A slow backoff from a large RTO would outlast MAX_TRANSMIT_WAIT: give up by then.
      delay = Math.min(delay, outstanding.sentAt + this.times.maxTransmitWait - this.#clock.now());
    }
    outstanding.timer = this.#clock.setTimeout(() => this.#onTimeout(outstanding), delay);
  }

  #onTimeout(outstanding: Outstanding): void {
    outstanding.timer = undefined;
    // With CoCoA, a retransmission due after MAX_TRANSMIT_SPAN is not sent: the peer's
    // deduplication (EXCHANGE_LIFETIME, §4.8.2) assumes none come later.
    const spanOver = this.parameters.congestionControl === 'cocoa'
      && this.#clock.now() - outstanding.sentAt > this.times.maxTransmitSpan;
    if (outstanding.retransmissions >= this.parameters.maxRetransmit || spanOver) {
      this.#finish(outstanding, new RetransmitTimeoutError());
      return;
    }
    outstanding.retransmissions++;
    outstanding.timeoutMs *= outstanding.backoff;
    this.#transport.retransmitting?.(outstanding.peer, outstanding.retransmissions, outstanding.lastSentAt);
    outstanding.lastSentAt = this.#clock.now();
    this.#transport.send(outstanding.bytes, outstanding.peer);
    this.#arm(outstanding);
  }

  #finish(outstanding: Outstanding, error: Error | undefined, ack?: Acknowledgement): void {
    if (outstanding.timer !== undefined) this.#clock.clearTimeout(outstanding.timer);
    this.#outstanding.delete(outstanding.key);
    this.#release(outstanding.peer);
    outstanding.settle(error, ack);
  }

  #cancel(queued: Queued, error: Error): void {
    const outstanding = queued.outstandingKey === undefined ? undefined : this.#outstanding.get(queued.outstandingKey);
    if (outstanding !== undefined) {
      this.#finish(outstanding, error);
      return;
    }
    const slots = this.#slots.get(peerKey(queued.peer));
    const index = slots?.queue.indexOf(queued) ?? -1;
    if (index >= 0) {
      slots!.queue.splice(index, 1);
      queued.settle(error);
    }
  }

  /** Frees an NSTART slot and starts the next queued CON for that peer. */
  #release(peer: PeerAddress): void {
    const key = peerKey(peer);
    const slots = this.#slots.get(key);
    if (slots === undefined) return;
    const next = slots.queue.shift();
    if (next !== undefined) {
      this.#start(next);
      return;
    }
    slots.active--;
    if (slots.active <= 0) this.#slots.delete(key);
  }

  #receive(data: Buffer, peer: Peer): void {
    if (this.#closed) return;
    let message: Message;
    try {
      message = decode(data);
    } catch (error) {
      const header = error instanceof FormatError ? error.header : undefined;
      // §4.2: a CON that cannot be parsed is rejected with RST; a NON, ACK or RST is
      // silently ignored (§4.3).
      if (header !== undefined && header.type === MessageType.CON) {
        this.#transport.send(encode(emptyMessage(MessageType.RST, header.messageId)), peer);
      }
      this.#logger.debug({ peer: formatPeer(peer), reason: (error as Error).message }, 'dropped malformed datagram');
      return;
    }
    switch (message.type) {
      case MessageType.ACK:
      case MessageType.RST:
        this.#receiveAnswer(message, peer);
        return;
      case MessageType.CON:
      case MessageType.NON:
        this.#receiveNew(message, peer);
        return;
    }
  }

  #receiveAnswer(message: Message, peer: Peer): void {
    const outstanding = this.#outstanding.get(`${peerKey(peer)}#${message.messageId}`);
    if (outstanding !== undefined) this.#sample(outstanding);
    if (message.type === MessageType.RST) {
      if (outstanding !== undefined) this.#finish(outstanding, new ResetError());
      else this.#handler.reset(message.messageId, peer);
      return;
    }
    // An ACK to nothing of ours is a late duplicate: ignore it (§4.2).
    if (outstanding !== undefined) this.#finish(outstanding, undefined, { message, peer });
  }

  /** An ACK or RST answered this CON: one RTT sample, counted from the first transmission
   * (strong if it was never retransmitted, weak after one or two, none after more). */
  #sample(outstanding: Outstanding): void {
    const kind = sampleKind(outstanding.retransmissions);
    if (kind === undefined) return;
    const record = this.#peer(outstanding.peer);
    const now = this.#clock.now();
    record.link = addSample(aged(record.link, now, this.#rtoBounds), kind, now - outstanding.sentAt, now, this.#rtoBounds);
  }

  #receiveNew(message: Message, peer: Peer): void {
    const confirmable = message.type === MessageType.CON;
    const klass = codeClass(message.code);
    if (message.code === 0) {
      // §4.3: an empty CON is a CoAP ping, answered by RST; an empty NON is ignored.
      if (confirmable) this.#transport.send(encode(emptyMessage(MessageType.RST, message.messageId)), peer);
      return;
    }
    if (klass === 1 || klass === 6 || klass === 7) {
      // Reserved classes cannot be processed: reject (§4.2, §4.3).
      if (confirmable) this.#transport.send(encode(emptyMessage(MessageType.RST, message.messageId)), peer);
      return;
    }
    const key = `${peerKey(peer)}#${message.messageId}`;
    const seen = this.#dedup.size === 0 ? undefined : this.#dedup.get(key);
    if (seen !== undefined) {
      // §4.5: a duplicate gets the same answer and never reaches the handler again.
      if (confirmable && seen !== null) this.#transport.send(seen, peer);
      return;
    }
    if (isSafeRequest(message.code)) {
      // §4.5 lets a recipient relax deduplication for idempotent requests; we do it for
      // the safe ones (GET, FETCH): a duplicate is answered afresh, and the commonest
      // request costs no table entry, unless its answer is late (answerLater()).
      this.#handler.message(message, peer);
      return;
    }
    this.#dedup.set(key, null, confirmable ? this.times.exchangeLifetime : this.times.nonLifetime, key.length);
    this.#handler.message(message, peer);
  }
}
