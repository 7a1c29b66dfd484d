// Q-Block2 downloads on the client side (RFC 9177 §4.4, §6, §7.2): after a first CON
// request for one block (§4.1: how support is told), each NON request names a window of
// blocks (the holes first), its responses arrive on its token in a burst, lost,
// duplicated or reordered; the sink still gets in-order contiguous writes. Missing blocks
// are asked again when the window is over: all of it in; a moment after its last block;
// after two round trips with no block; NON_RECEIVE_TIMEOUT (doubling) when none at all
// came. A server that does not know the option (4.02 to the CON) or answers Block2 sends
// the download back to Block2.

import { blockSize, MAX_SIZE_EXPONENT, readBlockOption, type BlockValue } from './block.js';
import { DEFAULT_BLOCK_RETRIES, type BlockSink, type DownloadOptions, type DownloadResult } from './block-client.js';
import type { CoapResponse } from './client.js';
import { codeClass, formatCode, ResponseCode } from './codes.js';
import { BlockTransferError, CancelledError, ClosedError, CoapError, RequestTimeoutError, ResetError } from './errors.js';
import type { Clock, TimerHandle } from './interfaces.js';
import { getOption, getUintOption, hasOption, OptionNumber, type CoapOption } from './options.js';
import { MAX_NAMED_BLOCKS, MAX_PAYLOADS, NON_MAX_RETRANSMIT, QBlock2Receiver, qBlock2Options } from './q-block2.js';
import { addSample, initialEstimate, type LinkEstimate, type RtoBounds } from './rto-estimator.js';

/** The peer as a Q-Block2 download sees it. */
export interface QBlock2Link {
  /** Sends the request (CON or NON) with these Q-Block2 options on a fresh token (§6); its
   * responses reach `deliver` until the returned function is called; `fail` hears of a
   * request that could not be delivered (a CON unacknowledged or reset, the endpoint closed). */
  send(
    qblock2: readonly CoapOption[], confirmable: boolean, deliver: (response: CoapResponse) => void, fail: (error: Error) => void,
  ): () => void;
  /** NON_TIMEOUT to start from (§7.2: ACK_TIMEOUT, or the RTO learnt for this peer). */
  readonly nonTimeoutMs: number;
  /** How long a CON request waits for its first response (a request's time limit). */
  readonly requestTimeoutMs: number;
  /** Learn NON_TIMEOUT from each window's time to its first block, as CoCoA learns an RTO
   * (within these bounds); undefined keeps it fixed. */
  readonly rtoBounds: RtoBounds | undefined;
}

type Done = { readonly kind: 'done'; readonly result: DownloadResult };
/** The server does not know Q-Block2 (4.02) or answered Block2: use Block2. */
type Fallback = { readonly kind: 'fallback'; readonly reason: 'bad-option' | 'block2' };
export type QBlock2Outcome = Done | Fallback;

/** Responses of older windows are still taken (a late block is a block) from this many
 * requests back; responses to older ones are rejected as unexpected. */
const LISTENED_REQUESTS = 4;
/** Events waiting for the download loop while it writes to the sink. */
const MAX_QUEUED_EVENTS = 4 * MAX_NAMED_BLOCKS;
/** The doubling of NON_RECEIVE_TIMEOUT (§7.2) stops at 2^4. */
const MAX_BACKOFF_EXPONENT = 4;
/** The wait for the rest of a burst after one of its blocks came never goes below this: a
 * busy process pauses that long (a GC, an fsync, another process on the core), and a pause
 * taken for loss sends blocks twice. Only a window with a hole waits it out. */
const MIN_GAP_MS = 50;
/** ETags of representations given up, so their late blocks do not restart us again. */
const FORGOTTEN_ETAGS = 8;

/** NON requests but for the first, unless `confirmable` asks for CON throughout. */
export type QBlock2DownloadOptions = DownloadOptions & { readonly signal?: AbortSignal; readonly confirmable?: boolean };

type Event =
  /** `request`: the number of the request it answers (a late answer to an earlier one
   * brings data, but no timing). */
  | { readonly kind: 'response'; readonly response: CoapResponse; readonly request: number; readonly askedSizeExponent: number }
  | { readonly kind: 'failed'; readonly error: Error; readonly request: number }
  | { readonly kind: 'timer'; readonly generation: number }
  | { readonly kind: 'abort' };

/** Downloads into `sink` with Q-Block2; resolves with the result, or with a fallback
 * before anything was written. */
export function downloadQBlocks(link: QBlock2Link, clock: Clock, sink: BlockSink, options: QBlock2DownloadOptions): Promise<QBlock2Outcome> {
  return new QBlock2Download(link, clock, sink, options).run();
}

class QBlock2Download {
  readonly #link: QBlock2Link;
  readonly #clock: Clock;
  readonly #sink: BlockSink;
  readonly #options: QBlock2DownloadOptions;
  readonly #maxSize: number;
  readonly #maxSizeExponent: number;
  readonly #receiver: QBlock2Receiver;
  #etag: Buffer | undefined;
  readonly #forgottenEtags: string[] = [];
  #restarts = 0;
  /** No Q-Block2 response yet: a 4.02 or a Block2 answer still means "fall back". */
  #first = true;
  #estimate: LinkEstimate | undefined;
  #nonTimeoutMs: number;
  readonly #events: Event[] = [];
  #wake: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  #timerGeneration = 0;

  constructor(link: QBlock2Link, clock: Clock, sink: BlockSink, options: QBlock2DownloadOptions) {
    this.#link = link;
    this.#clock = clock;
    this.#sink = sink;
    this.#options = options;
    this.#maxSize = options.maxSize ?? 1 << 30;
    this.#maxSizeExponent = Math.min(options.sizeExponent ?? MAX_SIZE_EXPONENT, MAX_SIZE_EXPONENT);
    this.#receiver = new QBlock2Receiver(options.startOffset ?? 0, this.#maxSizeExponent);
    this.#etag = this.#receiver.next > 0 ? options.etag : undefined;
    this.#nonTimeoutMs = link.nonTimeoutMs;
    if (link.rtoBounds !== undefined) this.#estimate = { ...initialEstimate(link.rtoBounds, clock.now()), rto: link.nonTimeoutMs };
  }

  async run(): Promise<QBlock2Outcome> {
    const { signal } = this.#options;
    if (signal?.aborted === true) throw new CancelledError();
    const onAbort = (): void => this.#post({ kind: 'abort' });
    signal?.addEventListener('abort', onAbort, { once: true });
    const exchanges: (() => void)[] = [];
    try {
      let emptyWindows = 0;
      // What the requests that brought nothing cost: a NON one 1, a CON one (retransmitted
      // already) NON_MAX_RETRANSMIT. At NON_MAX_RETRANSMIT (§7.2) for each of the tries a
      // Block2 request gets (1 + blockRetries), the download gives up, as that path would.
      let patienceSpent = 0;
      const patience = NON_MAX_RETRANSMIT * (1 + (this.#options.blockRetries ?? DEFAULT_BLOCK_RETRIES));
      const maxWindows = 4 * (this.#maxSize / 16 + 1);
      for (let windows = 0; windows < maxWindows; windows++) {
        const planned = this.#options.qblock?.tuner?.next() ?? { sizeExponent: this.#maxSizeExponent, window: MAX_PAYLOADS };
        // Until a Q-Block2 response shows the server knows the option, one block with CON:
        // a NON request with an unknown critical option is silently ignored, a CON one is
        // answered 4.02 (RFC 7252 §5.4.1), which is how RFC 9177 §4.1 tells support.
        const window = this.#first ? 1 : Math.max(1, Math.min(MAX_NAMED_BLOCKS, Math.floor(planned.window)));
        const blocks = this.#receiver.plan(Math.min(planned.sizeExponent, this.#maxSizeExponent), window);
        // Only a body that ended with the last request's blocks plans none; ask block 0.
        if (blocks.length === 0) blocks.push(Math.floor(this.#receiver.next / blockSize(this.#receiver.sizeExponent)));
        const askedSizeExponent = this.#receiver.sizeExponent;
        const request = windows;
        const confirmable = this.#first || this.#options.confirmable === true;
        exchanges.push(this.#link.send(
          qBlock2Options(blocks, askedSizeExponent),
          confirmable,
          (response) => this.#post({ kind: 'response', response, request, askedSizeExponent }),
          (error) => this.#post({ kind: 'failed', error, request }),
        ));
        while (exchanges.length > LISTENED_REQUESTS) exchanges.shift()!();
        const asked = blocks.map((num) => num * blockSize(askedSizeExponent));
        const outcome = await this.#window(request, asked, confirmable, emptyWindows);
        if (outcome.kind === 'done' || outcome.kind === 'fallback') return outcome;
        emptyWindows = outcome.anyNew ? 0 : emptyWindows + 1;
        patienceSpent = outcome.anyNew ? 0 : patienceSpent + (confirmable ? NON_MAX_RETRANSMIT : 1);
        if (patienceSpent > patience) throw new RequestTimeoutError(`no Q-Block2 response after ${emptyWindows} requests`);
      }
      throw new BlockTransferError('too many block requests');
    } finally {
      for (const stop of exchanges) stop();
      this.#disarm();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Takes responses until the window is over; the tuner learns what it brought. */
  async #window(
    request: number, askedOffsets: readonly number[], confirmable: boolean, emptyWindows: number,
  ): Promise<QBlock2Outcome | { kind: 'window'; anyNew: boolean }> {
    const sentAt = this.#clock.now();
    const pending = new Set(askedOffsets);
    let firstAt: number | undefined;
    let received = 0;
    let anyNew = false;
    // §7.2: NON_RECEIVE_TIMEOUT is twice NON_TIMEOUT, doubled for each re-request that
    // brought nothing. A CON request is retransmitted by the message layer meanwhile (and
    // holds the peer's NSTART slot): it waits for its answer as any request does.
    const receiveWait = confirmable ? this.#link.requestTimeoutMs
      : 2 * this.#nonTimeoutMs * 2 ** Math.min(emptyWindows, MAX_BACKOFF_EXPONENT);
    let generation = this.#arm(receiveWait);
    let over = false;
    while (!over) {
      const event = await this.#next();
      switch (event.kind) {
        case 'abort':
          throw new CancelledError();
        case 'failed':
          if (event.error instanceof ClosedError || event.error instanceof ResetError || !(event.error instanceof CoapError)) throw event.error;
          // A CON request unacknowledged: the window brought what it brought.
          over = event.request === request;
          break;
        case 'timer':
          over = event.generation === generation;
          break;
        case 'response': {
          const taken = await this.#take(event.response, event.askedSizeExponent);
          if (taken.kind === 'fallback') return taken;
          const current = event.request === request;
          if (taken.kind === 'done') {
            if (pending.delete(taken.offset) && current) {
              received++;
              firstAt ??= this.#clock.now();
            }
            this.#learn(askedOffsets.length, received, sentAt, firstAt, confirmable);
            return { kind: 'done', result: taken.result };
          }
          if (taken.kind === 'restart') {
            over = true;
            anyNew = true;
            break;
          }
          if (taken.kind !== 'new') break;
          anyNew = true;
          const now = this.#clock.now();
          const asked = pending.delete(taken.offset);
          if (asked && current) {
            received++;
            firstAt ??= now;
          }
          const { next, end } = this.#receiver;
          for (const offset of pending) if (offset < next || (end !== undefined && offset >= end)) pending.delete(offset);
          over = pending.size === 0;
          if (over || firstAt === undefined) break;
          // Sent in order (§4.4): once the window's last block (within the body) is in, what
          // is missing is lost, or overtaken by jitter: it gets a moment, then is asked again.
          // Before that, the rest of a burst follows within about one round trip (NON back
          // to back; CON paced by its ACKs): twice the first block's time.
          const rtt = firstAt - sentAt;
          const lastAsked = askedOffsets.reduce((last, offset) => (end === undefined || offset < end ? offset : last), 0);
          const wait = asked && taken.offset >= lastAsked ? rtt / 4 : 2 * rtt;
          generation = this.#arm(Math.min(receiveWait, Math.max(MIN_GAP_MS, wait)));
          break;
        }
      }
    }
    this.#learn(askedOffsets.length, received, sentAt, firstAt, confirmable);
    return { kind: 'window', anyNew };
  }

  /** A window is over: the tuner hears what it brought, and its first block's time is an
   * RTT sample for NON_TIMEOUT, unless the request was a CON (its time may include
   * retransmissions: Karn's ambiguity). */
  #learn(asked: number, received: number, sentAt: number, firstAt: number | undefined, confirmable: boolean): void {
    const now = this.#clock.now();
    const rttMs = firstAt === undefined ? undefined : firstAt - sentAt;
    this.#options.qblock?.tuner?.observe({ asked, received, elapsedMs: now - sentAt, ...(rttMs === undefined ? {} : { rttMs }) });
    if (rttMs !== undefined && !confirmable && this.#estimate !== undefined && this.#link.rtoBounds !== undefined) {
      this.#estimate = addSample(this.#estimate, 'strong', rttMs, now, this.#link.rtoBounds);
      this.#nonTimeoutMs = this.#estimate.rto;
    }
  }

  /** One response: checked, its block recorded and what became contiguous written. */
  async #take(
    response: CoapResponse, askedSizeExponent: number,
  ): Promise<Fallback | Done & { offset: number } | { kind: 'new'; offset: number } | { kind: 'old' } | { kind: 'restart' }> {
    if (codeClass(response.code) !== 2) {
      if (this.#first && response.code === ResponseCode.BadOption) return { kind: 'fallback', reason: 'bad-option' };
      throw new BlockTransferError(`block request answered ${formatCode(response.code)}`, response.code);
    }
    let block: BlockValue | undefined;
    try {
      block = readBlockOption(response.options, OptionNumber.QBlock2);
    } catch (error) {
      throw new BlockTransferError(`bad Q-Block2 in a response: ${(error as Error).message}`);
    }
    if (block === undefined) {
      if (hasOption(response.options, OptionNumber.Block2)) {
        if (this.#first) return { kind: 'fallback', reason: 'block2' };
        throw new BlockTransferError('the server went from Q-Block2 to Block2 during the transfer');
      }
      // The whole representation at once.
      if (this.#receiver.next > 0 || !this.#first) await this.#sink.reset();
      await this.#sink.write(response.payload, 0);
      this.#options.onProgress?.(response.payload.length, response.payload.length);
      const result = { size: response.payload.length, etag: getOption(response.options, OptionNumber.ETag), last: response };
      return { kind: 'done', result, offset: 0 };
    }
    this.#first = false;
    const etag = getOption(response.options, OptionNumber.ETag);
    if (etag === undefined) throw new BlockTransferError('a Q-Block2 response without ETag (RFC 9177 §4.4)');
    let restarted = false;
    if (this.#etag !== undefined && !etag.equals(this.#etag)) {
      if (this.#forgottenEtags.includes(etag.toString('hex'))) return { kind: 'old' };
      await this.#restart(etag);
      restarted = true;
    }
    this.#etag = etag;
    const total = getUintOption(response.options, OptionNumber.Size2);
    const offset = block.num * blockSize(block.sizeExponent);
    if ((total !== undefined && total > this.#maxSize) || offset + response.payload.length > this.#maxSize) {
      throw new BlockTransferError(`representation larger than the ${this.#maxSize}-byte limit`);
    }
    if (block.moreBlocks && response.payload.length !== blockSize(block.sizeExponent)) {
      throw new BlockTransferError(`block ${block.num} has ${response.payload.length} bytes, not ${blockSize(block.sizeExponent)}`);
    }
    // RFC 7959 §2.4 as for Block2: a smaller block than asked is the largest it sends.
    if (block.sizeExponent < askedSizeExponent) this.#receiver.serverSize(block.sizeExponent);
    if (!block.moreBlocks) this.#receiver.end = offset + response.payload.length;
    else if (total !== undefined) this.#receiver.end = total;
    const arrival = this.#receiver.add(offset, response.payload);
    if (arrival.kind === 'new') {
      let at = arrival.offset;
      for (const chunk of arrival.ready) {
        await this.#sink.write(chunk, at);
        at += chunk.length;
        this.#options.onProgress?.(at, this.#receiver.end);
      }
    }
    if (this.#receiver.complete) {
      return { kind: 'done', result: { size: this.#receiver.end!, etag, last: response }, offset };
    }
    if (restarted) return { kind: 'restart' };
    return arrival.kind === 'new' ? { kind: 'new', offset } : { kind: 'old' };
  }

  /** §4.4 with RFC 7959 §2.4: another ETag is another representation; start over. */
  async #restart(etag: Buffer): Promise<void> {
    if (++this.#restarts > (this.#options.maxRestarts ?? 3)) {
      throw new BlockTransferError(`gave up after ${this.#restarts - 1} restarts: the representation changed (ETag)`);
    }
    if (this.#etag !== undefined) this.#forgottenEtags.push(this.#etag.toString('hex'));
    if (this.#forgottenEtags.length > FORGOTTEN_ETAGS) this.#forgottenEtags.shift();
    await this.#sink.reset();
    this.#receiver.restart();
    this.#etag = etag;
  }

  #post(event: Event): void {
    if (this.#events.length >= MAX_QUEUED_EVENTS && event.kind === 'response') return;
    this.#events.push(event);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #next(): Promise<Event> {
    for (;;) {
      const event = this.#events.shift();
      if (event !== undefined) return event;
      await new Promise<void>((resolve) => { this.#wake = resolve; });
    }
  }

  /** (Re)arms the window's one timer; returns its generation, so a stale firing is told apart. */
  #arm(ms: number): number {
    this.#disarm();
    const generation = ++this.#timerGeneration;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#post({ kind: 'timer', generation });
    }, ms);
    return generation;
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
