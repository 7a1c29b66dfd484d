// The server side of the endpoint: turns a request message into a handler call and the
// handler's answer into a piggybacked response, or an empty ACK then a separate response
// when the handler is slow (RFC 7252 §5.2). Answers 4.02 (§5.4.1), 4.04, 4.05, 5.05 for
// proxy requests (§5.7.2) unless the application maps them onto its own resources, 5.00
// for a handler that throws, and honours No-Response (RFC 7967).

import { BlockError, type BlockValue } from './block.js';
import { needsBlock2, representationEtag, requestedBlock2, sliceBlock2 } from './block2-server.js';
import { Block2Snapshots } from './block2-snapshots.js';
import { codeClass, Method, ResponseCode } from './codes.js';
import { ObserveRegistry, type ObserveLimits } from './observe-server.js';
import { OBSERVE_REGISTER } from './observe-sequence.js';
import { FormatError, ResponseError } from './errors.js';
import type { Clock, Logger, Peer, Random, TimerHandle } from './interfaces.js';
import { formatPeer, peerKey } from './interfaces.js';
import { ExpiringCache } from './expiring-cache.js';
import { emptyMessage, MessageType, type Message } from './message.js';
import type { MessageDraft, MessageLayer } from './message-layer.js';
import {
  findBadCriticalOptions, getStringOptions, getUintOption, hasOption, OptionNumber, OPTIONS, uintOption, type CoapOption,
} from './options.js';
import { readQBlock2Ask, type QBlock2Ask } from './q-block2.js';
import { QBlock2Server, type QBlock2Limits, type QBlock2Stats } from './q-block2-server.js';
import { responseDraft } from './response-draft.js';
import type { Router } from './router.js';
import type { CoapRequest, ProxyResolver, RequestHandler, ResponseInit, UploadPolicy } from './server-types.js';
import { proxyTarget, UriError } from './uri.js';
import { Block1Reassembler, type Block1Limits } from './block1-server.js';

export interface ServerOptions {
  readonly router: Router;
  readonly messageLayer: MessageLayer;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  /** How long a handler may take before the CON request gets an empty ACK. */
  readonly separateResponseDelayMs: number;
  /** Largest Block2 size we send: 2^(x+4) bytes (RFC 7959 §2.2); 6 is 1024 bytes. */
  readonly maxBlockSizeExponent: number;
  /** For resources that declare no upload policy of their own. */
  readonly defaultUpload: UploadPolicy;
  readonly block1Limits: Block1Limits;
  readonly observeLimits: ObserveLimits;
  readonly initialObserveSequence: number;
  /** How long a block-wise non-GET response is kept for its follow-up blocks. */
  readonly bodyLifetimeMs: number;
  readonly qblock2: QBlock2Limits;
  /** The largest payload a response to `peer` carries whole, when the transport takes
   * more than one block in a message (RFC 8323); without it, one block. */
  readonly wholePayloadBytes?: (peer: Peer) => number;
  /** Answer every request 5.03 until serve(): see EndpointOptions.starting. */
  readonly starting?: boolean;
}

/** What a request gets while the server is starting: try again in a second (RFC 7252
 * §5.9.3.4, Max-Age says when), rather than a 4.04 for a resource not yet added. */
const STARTING: ResponseInit = { code: ResponseCode.ServiceUnavailable, payload: 'starting', maxAge: 1 };

const bodyKey = (request: CoapRequest): string => `${peerKey(request.peer)}|${request.method}|/${request.path.join('/')}`;

/** A GET representation is one per (peer, path, query, Accept). */

function errorResponse(error: unknown, logger: Logger, request: CoapRequest): ResponseInit {
  if (error instanceof ResponseError) {
    logger.debug({ peer: formatPeer(request.peer), code: error.responseCode, reason: error.message }, 'request refused');
    return {
      code: error.responseCode,
      options: error.options,
      ...(error.diagnostic === undefined ? {} : { payload: error.diagnostic }),
      ...(error.maxAge === undefined ? {} : { maxAge: error.maxAge }),
    };
  }
  // §5.5.2 lets us send a diagnostic payload; we send none so nothing internal leaks.
  logger.error({ err: error, peer: formatPeer(request.peer), path: `/${request.path.join('/')}` }, 'request handler failed');
  return { code: ResponseCode.InternalServerError };
}

/** RFC 7967 §2: the classes the client does not want to hear about. */
function suppressed(options: readonly CoapOption[], code: number): boolean {
  const noResponse = getUintOption(options, OptionNumber.NoResponse);
  if (noResponse === undefined) return false;
  const bit = { 2: 0x02, 4: 0x08, 5: 0x10 }[codeClass(code)] ?? 0;
  return (noResponse & bit) !== 0;
}

export class Server {
  readonly #options: ServerOptions;
  readonly #block1: Block1Reassembler;
  readonly #observe: ObserveRegistry;
  readonly #qblock2: QBlock2Server;
  /** Empty-ACK timers of requests whose handlers are still running; cleared on close. */
  readonly #ackTimers = new Set<TimerHandle>();
  /** Whole responses to non-GET requests that went out block-wise, by (peer, method,
   * path), for the client's follow-up Block2 requests; bounded in entries and bytes. */
  readonly #bodies: ExpiringCache<ResponseInit>;
  /** Rendered GET representations that went out block-wise (block2-snapshots.ts), so the
   * follow-up blocks slice the representation block 0 came from instead of running the
   * handler again per block (a 500 KiB list rendered once, not 500 times) and a client
   * assembles one consistent representation (RFC 7959 §2.4). A GET for block 0 renders
   * afresh and replaces it; file-backed bodies are random access and never kept. Bounded
   * apart from #bodies, so GETs never evict a POST's rest. */
  readonly #snapshots: Block2Snapshots;
  #proxyResolver: ProxyResolver | undefined;
  #closed = false;
  #starting: boolean;

  constructor(options: ServerOptions) {
    this.#options = options;
    this.#starting = options.starting ?? false;
    this.#block1 = new Block1Reassembler(options.clock, options.logger, options.block1Limits);
    this.#bodies = new ExpiringCache(options.clock, 256, 16 * 1024 * 1024);
    this.#snapshots = new Block2Snapshots(options.clock, options.bodyLifetimeMs);
    this.#observe = new ObserveRegistry(options.messageLayer, options.clock, options.logger, options.observeLimits, options.initialObserveSequence);
    this.#qblock2 = new QBlock2Server({
      messageLayer: options.messageLayer, clock: options.clock, random: options.random, logger: options.logger,
      limits: options.qblock2, maxBlockSizeExponent: options.maxBlockSizeExponent,
    });
  }

  /** What the Q-Block2 side keeps now (transfers, peers, bytes held, bursts sending). */
  get qblock2Stats(): QBlock2Stats {
    return this.#qblock2.stats;
  }

  /** Every resource is in place: requests are served from now on. */
  serve(): void {
    this.#starting = false;
  }

  handle(message: Message, peer: Peer): void {
    const received = this.#toRequest(message, peer);
    const early = this.#starting ? STARTING : this.#precheck(received);
    if (early !== undefined) {
      this.#respond(received, early, false);
      return;
    }
    const request = this.#proxied(received);
    if (!('method' in request)) {
      this.#respond(received, request, false);
      return;
    }
    const match = this.#options.router.match(message.code, request.path);
    if (match.kind !== 'found') {
      this.#respond(request, { code: match.kind === 'not-found' ? ResponseCode.NotFound : ResponseCode.MethodNotAllowed }, false);
      return;
    }
    const routed: CoapRequest = { ...request, params: match.params };
    const { definition } = match;
    const policy = definition.upload ?? this.#options.defaultUpload;
    const carriesBody = message.code !== Method.GET && message.code !== Method.DELETE;
    if (hasOption(message.options, OptionNumber.Block1) || (carriesBody && policy.createSink !== undefined)
      || message.payload.length > policy.maxSize) {
      this.#respondLater(routed, this.#receiveBody(routed, match.handler, policy));
      return;
    }
    if (message.code !== Method.GET && message.payload.length === 0 && this.#bodies.size > 0) {
      const kept = this.#keptBody(routed);
      if (kept !== undefined) {
        this.#respondLater(routed, kept);
        return;
      }
    }
    const observe = message.code === Method.GET ? getUintOption(message.options, OptionNumber.Observe) : undefined;
    if (message.code === Method.GET && observe !== OBSERVE_REGISTER && this.#observe.size > 0) {
      // RFC 7641 §3.6: Observe = 1, or a plain GET, from the same peer and token ends it.
      this.#observe.deregister(peer, message.token);
    }
    if (message.code === Method.GET && hasOption(message.options, OptionNumber.QBlock2)) {
      this.#answerQBlock2(routed, match.handler, observe !== undefined);
      return;
    }
    if (message.code === Method.GET && observe === undefined && this.#snapshots.size > 0) {
      const kept = this.#snapshot(routed);
      if (kept instanceof Promise) {
        this.#respondLater(routed, kept);
        return;
      }
      if (kept !== undefined) {
        this.#respond(routed, kept, false);
        return;
      }
    }
    if (observe === OBSERVE_REGISTER && definition.observable !== undefined && definition.observable !== false) {
      this.#respondLater(routed, this.#registerObserver(routed, match.handler, definition.observable === 'confirmable'));
      return;
    }
    // The common case stays synchronous: a handler that answers at once is answered in
    // the same turn, piggybacked, with no timer.
    let result: ResponseInit | Promise<ResponseInit>;
    let requested: BlockValue | undefined;
    try {
      requested = requestedBlock2(message.options);
      result = match.handler(routed);
    } catch (error) {
      this.#respond(routed, errorResponse(error, this.#options.logger, routed), false);
      return;
    }
    if (!(result instanceof Promise)) {
      let sliced: ResponseInit | Promise<ResponseInit>;
      try {
        sliced = this.#sliced(result, requested, routed);
      } catch (error) {
        this.#respond(routed, errorResponse(error, this.#options.logger, routed), false);
        return;
      }
      if (!(sliced instanceof Promise)) {
        this.#respond(routed, sliced, false);
        return;
      }
      this.#respondLater(routed, sliced);
      return;
    }
    this.#respondLater(routed, result.then((init) => this.#sliced(init, requested, routed)));
  }

  /** RFC 7641 §4.1: a 2.xx answer to GET with Observe = 0 registers the observer (unless
   * a bound says no) and carries the Observe option; notifications render the same way. */
  async #registerObserver(request: CoapRequest, handler: RequestHandler, alwaysConfirmable: boolean): Promise<ResponseInit> {
    const requested = requestedBlock2(request.options);
    const render = async (stored: CoapRequest): Promise<ResponseInit> =>
      // §2.6 of RFC 7959 and RFC 7641 §3.8: a large notification carries block 0 only, and
      // is kept as the snapshot the client's GETs for the other blocks slice (with its ETag).
      this.#sliced(await handler(stored), requested === undefined ? undefined : { ...requested, num: 0 }, stored);
    const init = await render(request);
    if (codeClass(init.code) !== 2) return init;
    const sequence = this.#observe.register(request, render, alwaysConfirmable);
    if (sequence === undefined) return init;
    return { ...init, options: [...(init.options ?? []), uintOption(OptionNumber.Observe, sequence)] };
  }

  /** A later block of a non-GET response kept by #sliced, or undefined. */
  #keptBody(request: CoapRequest): Promise<ResponseInit> | undefined {
    let requested: BlockValue | undefined;
    try {
      requested = requestedBlock2(request.options);
    } catch {
      return undefined;
    }
    if (requested === undefined || requested.num === 0 || hasOption(request.options, OptionNumber.Block1)) return undefined;
    const init = this.#bodies.get(bodyKey(request));
    return init === undefined ? undefined : Promise.resolve(sliceBlock2(init, requested, this.#options.maxBlockSizeExponent));
  }

  /** A later block of a GET representation kept by #sliced, or undefined. */
  #snapshot(request: CoapRequest): ResponseInit | Promise<ResponseInit> | undefined {
    let requested: BlockValue | undefined;
    try {
      requested = requestedBlock2(request.options);
    } catch {
      return undefined;
    }
    if (requested === undefined || requested.num === 0) return undefined;
    const init = this.#snapshots.get(request);
    return init === undefined ? undefined : sliceBlock2(init, requested, this.#options.maxBlockSizeExponent);
  }

  /** The registrations of the Observe hub, for the endpoint's notify(). */
  get observers(): ObserveRegistry {
    return this.#observe;
  }

  /** The transport's association with `peer` ended (a DTLS session closed, failed, was
   * evicted or replaced): its Observe registrations, uploads in progress and kept
   * responses go with it (DESIGN §6: a peer's state goes when its session goes; a new
   * session from the same address may be another identity). The Block2 snapshots, a cache
   * keyed by identity as well, stay (block2-snapshots.ts). */
  peerGone(peer: Peer): void {
    this.#observe.dropPeer(peer);
    this.#qblock2.dropPeer(peer);
    this.#block1.dropPeer(peer);
    this.#bodies.deletePrefix(`${peerKey(peer)}|`);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#ackTimers) this.#options.clock.clearTimeout(timer);
    this.#ackTimers.clear();
    this.#bodies.clear();
    this.#snapshots.clear();
    this.#block1.close();
    this.#observe.close();
    this.#qblock2.close();
  }

  get uploadsInProgress(): number {
    return this.#block1.size;
  }

  /** A request body that arrives block-wise or goes to a sink: the handler runs once the
   * last block is in; the blocks before it are answered 2.31 Continue. */
  async #receiveBody(request: CoapRequest, handler: RequestHandler, policy: UploadPolicy): Promise<ResponseInit> {
    const requested = requestedBlock2(request.options);
    const outcome = await this.#block1.receive(request, policy);
    if (!outcome.done) return outcome.response;
    let init = await handler(outcome.request);
    if (outcome.block !== undefined) {
      init = { ...init, options: [...(init.options ?? []), Block1Reassembler.finalOptions(outcome.block)] };
      outcome.remember(init);
    }
    return this.#sliced(init, requested, outcome.request);
  }

  /** A GET with Q-Block2 (RFC 9177 §4.4): its blocks go as several responses on its token.
   * With Block2 too it is a bad request (the two ask different things); with Observe it
   * is not served here (4.02, so the client asks again without Q-Block2). */
  #answerQBlock2(request: CoapRequest, handler: RequestHandler, observing: boolean): void {
    const { qblock2 } = this.#options;
    let ask: QBlock2Ask;
    try {
      if (observing) throw new ResponseError(ResponseCode.BadOption, 'Q-Block2 with Observe', { diagnostic: 'Q-Block2 with Observe not supported' });
      if (hasOption(request.options, OptionNumber.Block2)) {
        throw new ResponseError(ResponseCode.BadRequest, 'Block2 and Q-Block2 together', { diagnostic: 'Block2 and Q-Block2 together' });
      }
      ask = readQBlock2Ask(request.options, qblock2.maxPayloads, qblock2.maxNamedBlocks)!;
    } catch (error) {
      const refusal = error instanceof BlockError
        ? new ResponseError(ResponseCode.BadRequest, error.message, { diagnostic: 'bad Q-Block2' }) : error;
      this.#respond(request, errorResponse(refusal, this.#options.logger, request), false);
      return;
    }
    let rest: (() => void) | undefined;
    const first = this.#qblock2.answer(request, ask, () => handler(request)).then((answer) => {
      rest = answer.rest;
      return answer.first;
    });
    this.#respondLater(request, first, () => rest?.());
  }

  #sliced(init: ResponseInit, requested: BlockValue | undefined, request?: CoapRequest): ResponseInit | Promise<ResponseInit> {
    const { maxBlockSizeExponent, wholePayloadBytes } = this.#options;
    const whole = request === undefined || wholePayloadBytes === undefined ? 0 : wholePayloadBytes(request.peer);
    if (!needsBlock2(init, requested, maxBlockSizeExponent, whole)) return init;
    // A later block asked for with no snapshot kept (it expired, or the client resumes)
    // is rendered afresh too, and kept: the blocks after it slice that one.
    if (request?.method === Method.GET && init.body === undefined) {
      if (init.etag === undefined && !hasOption(init.options ?? [], OptionNumber.ETag)) init = { ...init, etag: representationEtag(init)! };
      this.#snapshots.keep(request, init);
    } else if (request !== undefined && request.method !== Method.GET) {
      // RFC 7959 §2.6, §3.3: the client fetches the rest of a POST/PUT/... response with
      // the same method and Block2 NUM 1, 2, …; the handler must not run again for them.
      const options = (init.options ?? []).filter((option) => option.number !== OptionNumber.Block1);
      const size = init.body?.size ?? (init.payload?.length ?? 0);
      this.#bodies.set(bodyKey(request), { ...init, options }, this.#options.bodyLifetimeMs, init.body === undefined ? size : 0);
    }
    return sliceBlock2(init, requested, maxBlockSizeExponent);
  }

  #toRequest(message: Message, peer: Peer): CoapRequest {
    const { options } = message;
    return {
      method: message.code,
      path: getStringOptions(options, OptionNumber.UriPath),
      params: {},
      query: getStringOptions(options, OptionNumber.UriQuery),
      options,
      payload: message.payload,
      contentFormat: getUintOption(options, OptionNumber.ContentFormat),
      accept: getUintOption(options, OptionNumber.Accept),
      peer,
      token: message.token,
      confirmable: message.type === MessageType.CON,
      message,
    };
  }

  #precheck(request: CoapRequest): ResponseInit | undefined {
    // Q-Block2 is served for GET only; elsewhere, or switched off, it is an option we do
    // not recognise (RFC 7252 §5.4.1), which tells a client to fall back to Block2.
    const qblock2 = this.#options.qblock2.enabled && request.method === Method.GET;
    const bad = findBadCriticalOptions(request.options, (number) => OPTIONS.has(number) && (number !== OptionNumber.QBlock2 || qblock2));
    if (bad.length > 0) return { code: ResponseCode.BadOption, payload: `unrecognised critical option ${bad.join(', ')}` };
    return undefined;
  }

  /** Maps proxy requests onto the application's resources (see setProxyResolver). */
  setProxyResolver(resolver: ProxyResolver | undefined): void {
    this.#proxyResolver = resolver;
  }

  /** The request itself, or for a proxy request (§5.7.2) the request for the resource the
   * resolver maps it onto, or the answer: 5.05 with no resolver or a target no coap URI
   * names, or what the resolver refused with. */
  #proxied(request: CoapRequest): CoapRequest | ResponseInit {
    if (!hasOption(request.options, OptionNumber.ProxyUri) && !hasOption(request.options, OptionNumber.ProxyScheme)) return request;
    if (this.#proxyResolver === undefined) return { code: ResponseCode.ProxyingNotSupported };
    try {
      const { path, query } = this.#proxyResolver(proxyTarget(request.options), request);
      return { ...request, path, query };
    } catch (error) {
      if (error instanceof UriError) return { code: ResponseCode.ProxyingNotSupported, payload: error.message };
      return errorResponse(error, this.#options.logger, request);
    }
  }

  /** Answers with what `pending` resolves to; `sent` runs once that answer went. */
  #respondLater(request: CoapRequest, pending: Promise<ResponseInit>, sent?: () => void): void {
    const { clock, messageLayer, separateResponseDelayMs } = this.#options;
    // A duplicate of this CON must not run the handler again nor bring a second separate
    // response, even for a GET (§4.5).
    if (request.confirmable) messageLayer.answerLater(request.peer, request.message);
    let acknowledged = false;
    const timer = request.confirmable
      ? clock.setTimeout(() => {
        this.#ackTimers.delete(timer!);
        acknowledged = true;
        messageLayer.reply(request.peer, emptyMessage(MessageType.ACK, request.message.messageId), request.method);
      }, separateResponseDelayMs)
      : undefined;
    if (timer !== undefined) this.#ackTimers.add(timer);
    pending
      .catch((error: unknown) => errorResponse(error, this.#options.logger, request))
      .then((init) => {
        if (timer !== undefined) {
          clock.clearTimeout(timer);
          this.#ackTimers.delete(timer);
        }
        if (this.#closed) return;
        this.#respond(request, init, acknowledged);
        sent?.();
      })
      .catch((error: unknown) => this.#options.logger.error({ err: error }, 'could not send response'));
  }

  #respond(request: CoapRequest, init: ResponseInit, acknowledged: boolean): void {
    try {
      this.#send(request, responseDraft(request.token, init), acknowledged);
    } catch (error) {
      if (!(error instanceof FormatError)) {
        // Closed meanwhile: nobody is left to answer.
        this.#options.logger.debug({ err: error }, 'response not sent');
        return;
      }
      this.#options.logger.error({ err: error }, 'handler returned an unencodable response');
      this.#send(request, responseDraft(request.token, { code: ResponseCode.InternalServerError }), acknowledged);
    }
  }

  /** Piggybacks on the ACK unless one went already; then a separate CON (§5.2.2). A NON
   * request gets a NON response (§5.2.3). */
  #send(request: CoapRequest, draft: MessageDraft, acknowledged: boolean): void {
    const { messageLayer, logger } = this.#options;
    const { peer, message } = request;
    if (suppressed(message.options, draft.code)) {
      if (request.confirmable && !acknowledged) messageLayer.reply(peer, emptyMessage(MessageType.ACK, message.messageId), message.code);
    } else if (request.confirmable && !acknowledged) {
      const { code, token, options, payload } = draft;
      messageLayer.reply(peer, { type: MessageType.ACK, code, messageId: message.messageId, token, options, payload }, message.code);
    } else if (request.confirmable) {
      messageLayer.sendConfirmable(peer, draft).catch((error: unknown) => {
        logger.debug({ err: error, peer: formatPeer(peer) }, 'separate response not delivered');
      });
    } else {
      messageLayer.sendNonConfirmable(peer, draft);
    }
  }
}
