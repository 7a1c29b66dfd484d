// One CoAP endpoint on one transport: client and server at once (the agent needs both on
// one socket), built from the message layer, the client's exchanges and the server's
// router. Requests go out by URI or by peer and options; /.well-known/core is generated
// from the router (RFC 6690 §4, RFC 7252 §7.2).

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { blockOption, blockSize, MAX_SIZE_EXPONENT, readBlockOption, type BlockValue } from './block.js';
import {
  downloadBlocks, memorySink, uploadBlocks, type BlockSink, type DownloadOptions, type DownloadResult, type UploadOptions,
} from './block-client.js';
import { bufferBody, type BodySource } from './body.js';
import { DEFAULT_BLOCK1_LIMITS, type Block1Limits } from './block1-server.js';
import { Client, type CoapResponse, type SendOptions } from './client.js';
import { DEFAULT_OBSERVE_LIMITS, type ObserveLimits } from './observe-server.js';
import { Observation, type ObserveOptions } from './observe-client.js';
import { codeClass, isRequestCode, Method, ResponseCode } from './codes.js';
import { ContentFormat } from './content-formats.js';
import { peerKey, type Clock, type Logger, type Peer, type PeerAddress, type Random, type Transport } from './interfaces.js';
import { filterLinks, serializeLinks } from './link-format.js';
import { EMPTY_BUFFER, emptyMessage, MessageType, type Message } from './message.js';
import { DEFAULT_LIMITS, MessageLayer, type MessageDraft, type MessageLayerLimits } from './message-layer.js';
import { ExpiringCache } from './expiring-cache.js';
import { downloadQBlocks, type QBlock2Link } from './q-block2-client.js';
import { DEFAULT_QBLOCK2_LIMITS, type QBlock2Limits, type QBlock2Stats } from './q-block2-server.js';
import type { TransmissionParameters } from './parameters.js';
import { getOption, stringOption, uintOption, OptionNumber, type CoapOption } from './options.js';
import { Router } from './router.js';
import { silentLogger, systemClock, systemRandom } from './runtime.js';
import { Server } from './server.js';
import type { ProxyResolver, ResponseInit } from './server-types.js';
import { parseUri, UriError, uriToOptions } from './uri.js';
import { UdpTransport, type UdpTransportOptions } from './transport-udp.js';

/** The least NON_TIMEOUT a Q-Block2 download learns (see #qblock2Link). */
const MIN_WINDOW_TIMEOUT_MS = 100;

export interface EndpointOptions {
  readonly transport: Transport;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  readonly parameters?: Partial<TransmissionParameters>;
  readonly limits?: Partial<MessageLayerLimits & { openExchanges: number }>;
  readonly tokenLength?: number;
  /** A handler slower than this gets an empty ACK first (RFC 7252 §5.2.2). */
  readonly separateResponseDelayMs?: number;
  /** Largest block we send or ask for: 2^(x+4) bytes, 0..6 (RFC 7959 §2.2). */
  readonly maxBlockSizeExponent?: number;
  /** Request bodies larger than this get 4.13, unless a resource sets its own limit. */
  readonly maxRequestBodySize?: number;
  readonly block1Limits?: Partial<Block1Limits>;
  readonly observeLimits?: Partial<ObserveLimits>;
  /** Q-Block2 (RFC 9177) for GETs that ask with it: on unless `enabled: false`. */
  readonly qblock2?: Partial<QBlock2Limits>;
  /** Serve /.well-known/core from the router (default true). */
  readonly wellKnownCore?: boolean;
  /** Over a transport whose messages hold more than a block (RFC 8323): the largest
   * payload a response to this peer carries whole. */
  readonly wholePayloadBytes?: (peer: Peer) => number;
  /** Answer every request 5.03 with Max-Age 1 until serve() (RFC 7252 §5.9.3.4): a daemon
   * binds its sockets before all its resources are added, and a client that reaches it
   * meanwhile (an agent reconnecting to a restarted gateway) must not hear 4.04. */
  readonly starting?: boolean;
}

export interface RequestOptions extends SendOptions {
  readonly method?: number;
  /** coap://host:port/path?query; or give `peer` and `path`/`query`. */
  readonly uri?: string;
  readonly peer?: PeerAddress;
  readonly path?: string | readonly string[];
  readonly query?: readonly string[];
  readonly payload?: Buffer | string;
  readonly contentFormat?: number;
  readonly accept?: number;
  /** More options (ETag, If-Match, Block2, Observe…). */
  readonly options?: readonly CoapOption[];
}

/** Options with `number` replaced by the block value, and a size option when given. */
function withBlock(
  options: readonly CoapOption[], number: number, block: BlockValue, size?: number, sizeNumber?: number,
): CoapOption[] {
  const rest = options.filter((option) => option.number !== number && option.number !== sizeNumber);
  rest.push(blockOption(number, block));
  if (size !== undefined && sizeNumber !== undefined) rest.push(uintOption(sizeNumber, size));
  return rest;
}

const WITHOUT_QBLOCK2_PEERS = 256;
const WITHOUT_QBLOCK2_MS = 3600_000;

const splitPath = (path: string | readonly string[]): readonly string[] =>
  typeof path === 'string' ? path.split('/').filter((segment) => segment !== '') : path;

export class Endpoint {
  readonly router = new Router();
  readonly messageLayer: MessageLayer;
  readonly #transport: Transport;
  readonly #client: Client;
  readonly #logger: Logger;
  readonly #maxBlockSizeExponent: number;
  readonly #clock: Clock;
  readonly #server: Server;
  readonly #peerGoneListeners = new Set<(peer: Peer) => void>();
  /** Peers that answered a Q-Block2 request with 4.02 and then served Block2: their next
   * downloads start with Block2. Bounded; forgotten after an hour, in case they learn it. */
  readonly #withoutQBlock2: ExpiringCache<true>;

  constructor(options: EndpointOptions) {
    const clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    this.#logger = options.logger ?? silentLogger;
    this.#transport = options.transport;
    this.#clock = clock;
    this.#maxBlockSizeExponent = options.maxBlockSizeExponent ?? MAX_SIZE_EXPONENT;
    this.#withoutQBlock2 = new ExpiringCache(clock, WITHOUT_QBLOCK2_PEERS, Infinity);
    this.messageLayer = new MessageLayer({
      transport: options.transport, clock, random, logger: this.#logger,
      ...(options.parameters === undefined ? {} : { parameters: options.parameters }),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    });
    this.#client = new Client({
      messageLayer: this.messageLayer, clock, random, logger: this.#logger,
      tokenLength: options.tokenLength ?? 4,
      maxOpenExchanges: options.limits?.openExchanges ?? DEFAULT_LIMITS.queuePerPeer * 4,
    });
    const server = new Server({
      router: this.router, messageLayer: this.messageLayer, clock, logger: this.#logger,
      separateResponseDelayMs: options.separateResponseDelayMs ?? 500,
      maxBlockSizeExponent: this.#maxBlockSizeExponent,
      defaultUpload: { maxSize: options.maxRequestBodySize ?? 64 * 1024 },
      block1Limits: { ...DEFAULT_BLOCK1_LIMITS, ...options.block1Limits },
      observeLimits: { ...DEFAULT_OBSERVE_LIMITS, ...options.observeLimits },
      initialObserveSequence: Math.floor(random.float() * 0x10000),
      bodyLifetimeMs: this.messageLayer.times.exchangeLifetime,
      random,
      qblock2: { ...DEFAULT_QBLOCK2_LIMITS, ...options.qblock2 },
      ...(options.wholePayloadBytes === undefined ? {} : { wholePayloadBytes: options.wholePayloadBytes }),
      ...(options.starting === undefined ? {} : { starting: options.starting }),
    });
    this.#server = server;
    if (options.wellKnownCore !== false) {
      this.router.add('/.well-known/core', {
        handlers: { GET: (request) => this.#wellKnownCore(request.query) },
        hidden: true,
      });
    }
    this.messageLayer.setHandler({
      message: (message, peer) => {
        if (isRequestCode(message.code)) server.handle(message, peer);
        else if (!this.#client.handleResponse(message, peer)) this.#rejectUnexpected(message, peer);
      },
      reset: (messageId, peer) => server.observers.onReset(peer, messageId),
    });
    options.transport.onPeerGone?.((peer) => {
      server.peerGone(peer);
      for (const listener of this.#peerGoneListeners) listener(peer);
    });
  }

  /** Calls `listener` when the transport says a peer's session ended (DTLS: close_notify,
   * eviction, failure, a new handshake), after the server dropped what it kept for it.
   * Returns a function that removes the listener. */
  onPeerGone(listener: (peer: Peer) => void): () => void {
    this.#peerGoneListeners.add(listener);
    return () => { this.#peerGoneListeners.delete(listener); };
  }

  /** Serves requests from now on (after `starting`). */
  serve(): void {
    this.#server.serve();
  }

  /** An endpoint on a UDP socket (port 0 for an ephemeral one). */
  static async udp(udp: UdpTransportOptions = {}, options: Omit<EndpointOptions, 'transport'> = {}): Promise<Endpoint> {
    const transport = await UdpTransport.bind({ ...udp, ...(options.logger === undefined ? {} : { logger: options.logger }) });
    return new Endpoint({ ...options, transport });
  }

  address(): PeerAddress {
    return this.#transport.address();
  }

  /** The resource at `path` changed: its observers get the new state (RFC 7641 §4.2). */
  notify(path: string): void {
    this.#server.observers.notify(path);
  }

  /** Observers of `path` right now. */
  observers(path: string): number {
    return this.#server.observers.observers(path);
  }

  /** Ends every observation of `path` with `final`, an error response (RFC 7641 §3.2). */
  endObservers(path: string, final: ResponseInit): void {
    this.#server.observers.endAll(path, final);
  }

  /** Calls `listener` with a path when its last observer leaves (it may have a new one by
   * the time the listener looks: check `observers(path)`). Returns a function that removes it. */
  onObserversGone(listener: (path: string) => void): () => void {
    return this.#server.observers.onIdle(listener);
  }

  /** Serves proxy requests (RFC 7252 §5.7.2) by mapping them onto this endpoint's own
   * resources; without a resolver they get 5.05 Proxying Not Supported. */
  setProxyResolver(resolver: ProxyResolver | undefined): void {
    this.#server.setProxyResolver(resolver);
  }

  /** Removes a resource; its observers get a final 4.04 (RFC 7641 §3.2). */
  removeResource(pattern: string, path: string = pattern): void {
    this.router.remove(pattern);
    this.#server.observers.removeResource(path);
  }

  /** Block-wise uploads this server is receiving right now. */
  get uploadsInProgress(): number {
    return this.#server.uploadsInProgress;
  }

  get openExchanges(): number {
    return this.#client.openExchanges;
  }

  /** What the server side keeps for Q-Block2 transfers now. */
  qblock2Stats(): QBlock2Stats {
    return this.#server.qblock2Stats;
  }

  /** Sends a request and resolves with its response. A payload over one block goes out
   * block-wise (Block1), and a block-wise response is collected whole, up to
   * `maxBodySize` (Block2); use `download`/`upload` to stream instead. */
  async request(options: RequestOptions & { maxBodySize?: number }): Promise<CoapResponse> {
    const { peer, draft } = await this.#prepare(options);
    const payload = draft.payload;
    const first = payload.length > blockSize(this.#maxBlockSizeExponent)
      ? await uploadBlocks((block, chunk, size1) => this.#client.request(peer, {
        ...draft, options: withBlock(draft.options, OptionNumber.Block1, block, size1, OptionNumber.Size1), payload: chunk,
      }, options), bufferBody(payload), { sizeExponent: this.#maxBlockSizeExponent })
      : await this.#client.request(peer, draft, options);
    return this.#completeBlock2(peer, draft, first, options);
  }

  /** Observes a resource (RFC 7641): iterate the notifications; `cancel()` deregisters,
   * `forget()` lets the next notification be rejected. Large notifications arrive whole
   * (the rest of the blocks fetched with GET, RFC 7959 §2.6). */
  async observe(options: RequestOptions & ObserveOptions & { maxBodySize?: number }): Promise<{ observation: Observation; first: CoapResponse }> {
    const { peer, draft } = await this.#prepare({ ...options, method: Method.GET });
    const observation = new Observation({
      client: this.#client, clock: this.#clock, logger: this.#logger, peer, draft, sendOptions: options,
      complete: (response) => this.#completeBlock2(peer, draft, response, options),
    }, options);
    const first = await observation.start();
    return { observation, first };
  }

  /** A response whose Block2 says more: the rest fetched with GET and joined. */
  async #completeBlock2(
    peer: PeerAddress, draft: Omit<MessageDraft, 'token'>, first: CoapResponse, options: SendOptions & { maxBodySize?: number },
  ): Promise<CoapResponse> {
    const block = readBlockOption(first.options, OptionNumber.Block2);
    if (block === undefined || !block.moreBlocks) return first;
    const sink = memorySink();
    await sink.write(first.payload, 0);
    const etag = getOption(first.options, OptionNumber.ETag);
    const rest = await downloadBlocks((next) => this.#client.request(peer, this.#blockDraft(draft, next), options), sink, {
      startOffset: first.payload.length, sizeExponent: block.sizeExponent, maxSize: options.maxBodySize ?? 16 * 1024 * 1024,
      ...(etag === undefined ? {} : { etag }),
    });
    // The first response's options (Observe, Max-Age) with the whole payload.
    const kept = first.options.filter((option) => option.number !== OptionNumber.Block2);
    return { ...first, options: kept, payload: sink.body(), code: rest.last.code };
  }

  /** Retrieves a representation block-wise into `sink` (RFC 7959 §2.4), with progress,
   * resume from `startOffset` and a restart when the ETag changes. */
  async download(options: RequestOptions & DownloadOptions & { sink: BlockSink }): Promise<DownloadResult> {
    const { peer, draft } = await this.#prepare({ ...options, method: Method.GET });
    const settings = { ...options, sizeExponent: Math.min(options.sizeExponent ?? this.#maxBlockSizeExponent, this.#maxBlockSizeExponent) };
    let rememberPeer = false;
    if (options.qblock !== undefined && this.#withoutQBlock2.get(peerKey(peer)) === undefined) {
      const outcome = await downloadQBlocks(this.#qblock2Link(peer, draft, options), this.#clock, options.sink, settings);
      if (outcome.kind === 'done') return outcome.result;
      rememberPeer = outcome.reason === 'bad-option';
      this.#logger.debug({ peer, reason: outcome.reason }, 'Q-Block2 download continues with Block2');
    }
    return downloadBlocks(async (block) => {
      const response = await this.#client.request(peer, this.#blockDraft(draft, block), options);
      // The 4.02 was about Q-Block2, not the block: remember the peer does not know it.
      if (rememberPeer && codeClass(response.code) === 2) {
        rememberPeer = false;
        this.#withoutQBlock2.set(peerKey(peer), true, WITHOUT_QBLOCK2_MS);
      }
      return response;
    }, options.sink, settings);
  }

  /** A download's requests as Q-Block2 sees them: the GET's options with the Q-Block2 set. */
  #qblock2Link(peer: PeerAddress, draft: Omit<MessageDraft, 'token'>, options: SendOptions): QBlock2Link {
    const dropped = new Set<number>([OptionNumber.Observe, OptionNumber.Block2, OptionNumber.QBlock2]);
    const base = draft.options.filter((option) => !dropped.has(option.number));
    const { parameters } = this.messageLayer;
    const cocoa = parameters.congestionControl === 'cocoa';
    return {
      send: (qblock2, confirmable, deliver, fail) => this.#client.stream(
        peer, { code: draft.code, options: [...base, ...qblock2], payload: EMPTY_BUFFER }, confirmable, deliver, fail,
      ),
      nonTimeoutMs: cocoa ? this.messageLayer.rtt(peer)?.rto ?? parameters.ackTimeout : parameters.ackTimeout,
      requestTimeoutMs: options.timeoutMs ?? this.messageLayer.times.maxTransmitWait,
      // A NON window's time to its first block is the link's round trip plus a block read:
      // no handler to outwait, so the floor that keeps a CON from overtaking a slow handler
      // (minRtoMs) does not apply. A window lost whole (its request, one time in five at
      // 20 % loss) then costs a few round trips, not a second.
      rtoBounds: cocoa ? { initialRtoMs: parameters.ackTimeout, minRtoMs: Math.min(parameters.minRtoMs, MIN_WINDOW_TIMEOUT_MS), maxRtoMs: parameters.maxRtoMs } : undefined,
    };
  }

  /** Sends `source` block-wise (Block1, RFC 7959 §2.5) with PUT or POST. */
  async upload(options: RequestOptions & UploadOptions & { source: BodySource }): Promise<CoapResponse> {
    const { peer, draft } = await this.#prepare({ ...options, method: options.method ?? Method.PUT });
    return uploadBlocks((block, chunk, size1) => this.#client.request(peer, {
      ...draft, options: withBlock(draft.options, OptionNumber.Block1, block, size1, OptionNumber.Size1), payload: chunk,
    }, options), options.source, {
      ...options, sizeExponent: Math.min(options.sizeExponent ?? this.#maxBlockSizeExponent, this.#maxBlockSizeExponent),
    });
  }

  /** A follow-up request for one block: the same method and options less Observe (only
   * the first carries it) and the Block1 request body (RFC 7959 §3.3), no payload. */
  #blockDraft(draft: Omit<MessageDraft, 'token'>, block: BlockValue): Omit<MessageDraft, 'token'> {
    const dropped = new Set<number>([OptionNumber.Observe, OptionNumber.Block1, OptionNumber.Size1]);
    const options = draft.options.filter((option) => !dropped.has(option.number));
    return { code: draft.code, options: withBlock(options, OptionNumber.Block2, block), payload: EMPTY_BUFFER };
  }

  async #prepare(options: RequestOptions): Promise<{ peer: PeerAddress; draft: Omit<MessageDraft, 'token'> }> {
    const { peer, uriOptions } = await this.#target(options);
    const extra: CoapOption[] = [...uriOptions];
    if (options.contentFormat !== undefined) extra.push(uintOption(OptionNumber.ContentFormat, options.contentFormat));
    if (options.accept !== undefined) extra.push(uintOption(OptionNumber.Accept, options.accept));
    if (options.options !== undefined) extra.push(...options.options);
    // Shared when empty: an observation keeps its draft as long as it lasts (10,000 nodes
    // observed twice each by the gateway).
    const payload = options.payload === undefined ? EMPTY_BUFFER
      : typeof options.payload === 'string' ? Buffer.from(options.payload) : options.payload;
    return { peer, draft: { code: options.method ?? Method.GET, options: extra, payload } };
  }

  async close(): Promise<void> {
    this.#withoutQBlock2.clear();
    this.#client.close();
    this.#server.close();
    this.messageLayer.close();
    await this.#transport.close();
  }

  async #target(options: RequestOptions): Promise<{ peer: PeerAddress; uriOptions: CoapOption[] }> {
    if (options.uri !== undefined) {
      const uri = parseUri(options.uri);
      if (uri.scheme !== this.#transport.scheme) {
        throw new UriError(`a ${this.#transport.scheme} endpoint cannot send to ${uri.scheme}://`);
      }
      const address = isIP(uri.host) !== 0 ? uri.host : (await lookup(uri.host, { family: this.#family() })).address;
      // The datagram goes to the URI's port, so Uri-Port would only repeat it (§6.4 step 6).
      return { peer: { address, port: uri.port }, uriOptions: uriToOptions(uri).filter((o) => o.number !== OptionNumber.UriPort) };
    }
    if (options.peer === undefined) throw new TypeError('a request needs a uri or a peer');
    const uriOptions = [
      ...splitPath(options.path ?? []).map((segment) => stringOption(OptionNumber.UriPath, segment)),
      ...(options.query ?? []).map((argument) => stringOption(OptionNumber.UriQuery, argument)),
    ];
    return { peer: options.peer, uriOptions };
  }

  #family(): 4 | 6 {
    return this.#transport.address().address.includes(':') ? 6 : 4;
  }

  #wellKnownCore(query: readonly string[]) {
    return {
      code: ResponseCode.Content,
      contentFormat: ContentFormat.LinkFormat,
      payload: serializeLinks(filterLinks(this.router.links(), query)),
    };
  }

  /** §5.3.2: a response nobody asked for is rejected, so the sender stops (and an
   * Observe notification's sender forgets us, RFC 7641 §3.6). */
  #rejectUnexpected(message: Message, peer: Peer): void {
    this.#logger.debug({ peer, code: message.code }, 'unexpected response rejected');
    this.messageLayer.reply(peer, emptyMessage(MessageType.RST, message.messageId));
  }
}
