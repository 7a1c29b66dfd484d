// The gateway's resources on its endpoints (plain CoAP and DTLS): every handler
// and every upload sink runs only after the access table said yes (authorization.ts), a
// denial is logged and audited, and running handlers are tracked so a graceful stop lets
// them finish while new requests get 5.03.

import type { Principal } from '../fleet/identity.js';
import { isValidId } from '../fleet/paths.js';
import { Method, ResponseCode } from '../protocol/codes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import { ResponseError } from '../protocol/errors.js';
import { formatPeer, type Clock, type Logger, type Peer } from '../protocol/interfaces.js';
import type { LinkAttribute } from '../protocol/link-format.js';
import type { MethodName } from '../protocol/router.js';
import { systemClock } from '../protocol/runtime.js';
import type { CoapRequest, ProxyResolver, RequestHandler, ResponseInit, UploadPolicy, UploadSink } from '../protocol/server-types.js';
import { authorize, ruleFor, type AuthorizationContext, type Caller } from './authorization.js';
import { AccessDenied } from './errors.js';
import type { AuditEntry } from './records.js';

export type GatewayHandler = (request: CoapRequest, caller: Caller) => ResponseInit | Promise<ResponseInit>;

export interface GatewayResource {
  readonly handlers: Partial<Record<MethodName, GatewayHandler>>;
  readonly attributes?: readonly LinkAttribute[];
  readonly observable?: boolean | 'confirmable';
  /** Largest request body (4.13 past it). */
  readonly maxBodySize?: number;
  /** Streams PUT bodies to a sink, created once the caller is authorized. */
  readonly createSink?: (request: CoapRequest, caller: Caller) => UploadSink | Promise<UploadSink>;
}

export interface RoutingOptions {
  readonly logger: Logger;
  readonly authorization: AuthorizationContext;
  /** Writes an audit entry; must not throw. */
  readonly audit: (entry: AuditEntry) => void;
  readonly now: () => Date;
  /** Times the drain's bound (default: the system clock). */
  readonly clock?: Clock;
  /** Told of every authorized request from a node, with the peer it came from: where the
   * gateway reaches that node's agent (node-link.ts). */
  readonly onNodeRequest?: (nodeId: string, peer: Peer) => void;
}

/** "operator:alice", "node:n1", "local@127.0.0.1:5683" or "anonymous@ADDRESS:PORT". */
export function whoOf(principal: Principal | undefined, peer: Peer): string {
  if (principal === undefined) return `anonymous@${formatPeer(peer)}`;
  return principal.role === 'local' ? `local@${formatPeer(peer)}` : `${principal.role}:${principal.name}`;
}

/** Denials logged at warn and audited per second at most; the rest are counted, so a flood
 * of anonymous requests cannot fill the disk or the journal (DESIGN §6: every table has a
 * bound). */
export const DENIALS_RECORDED_PER_SECOND = 20;

const METHOD_NAMES = new Map<number, MethodName>(Object.entries(Method).map(([name, code]) => [code, name as MethodName]));

/** GET requests never carry a body worth a sink; the endpoint asks a resource's sink
 * factory for every method, so they get this one. */
const NO_BODY: UploadSink = { write: () => {}, abort: () => {} };

export class GatewayRouter {
  readonly #endpoints: readonly Endpoint[];
  readonly #options: RoutingOptions;
  /** Handlers still running (their promises); removed when they settle. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #draining = false;
  /** The current one-second window of denial records. */
  #denials = { windowStart: 0, recorded: 0, suppressed: 0 };

  constructor(endpoints: readonly Endpoint[], options: RoutingOptions) {
    this.#endpoints = endpoints;
    this.#options = options;
  }

  /** Adds a resource on every endpoint. Every method must have a row in the access table. */
  add(pattern: string, resource: GatewayResource): void {
    const handlers: Partial<Record<MethodName, RequestHandler>> = {};
    for (const [method, handler] of Object.entries(resource.handlers) as [MethodName, GatewayHandler][]) {
      if (ruleFor(method, pattern) === undefined) throw new Error(`no access rule for ${method} ${pattern}`);
      handlers[method] = this.#guard(method, pattern, handler);
    }
    const upload: UploadPolicy | undefined = resource.createSink === undefined
      ? (resource.maxBodySize === undefined ? undefined : { maxSize: resource.maxBodySize })
      : { maxSize: resource.maxBodySize ?? 64 * 1024, createSink: (request) => this.#sink(pattern, request, resource.createSink!) };
    for (const endpoint of this.#endpoints) {
      endpoint.router.add(pattern, {
        handlers,
        ...(resource.attributes === undefined ? {} : { attributes: resource.attributes }),
        ...(resource.observable === undefined ? {} : { observable: resource.observable }),
        ...(upload === undefined ? {} : { upload }),
      });
    }
  }

  /** The resource at `path` changed: its observers on every endpoint hear of it. */
  notify(...paths: string[]): void {
    for (const endpoint of this.#endpoints) for (const path of paths) endpoint.notify(path);
  }

  /** Observers of `path` on every endpoint. */
  observers(path: string): number {
    return this.#endpoints.reduce((sum, endpoint) => sum + endpoint.observers(path), 0);
  }

  /** Ends every observation of `path` on every endpoint with `final` (RFC 7641 §3.2). */
  endObservers(path: string, final: ResponseInit): void {
    for (const endpoint of this.#endpoints) endpoint.endObservers(path, final);
  }

  /** Calls `listener` when the last observer of a path on one endpoint leaves. */
  onObserversGone(listener: (path: string) => void): () => void {
    const removers = this.#endpoints.map((endpoint) => endpoint.onObserversGone(listener));
    return () => { for (const remove of removers) remove(); };
  }

  /** Serves proxy requests (RFC 7252 §5.7.2) on every endpoint as `resolver` maps them. */
  setProxyResolver(resolver: ProxyResolver | undefined): void {
    for (const endpoint of this.#endpoints) endpoint.setProxyResolver(resolver);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** New requests get 5.03 from now on; resolves when the running handlers are done or
   * `timeoutMs` has passed, with how many were still running. */
  async drain(timeoutMs: number): Promise<number> {
    this.#draining = true;
    const clock = this.#options.clock ?? systemClock;
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timeout = new Promise<void>((resolve) => { timer = clock.setTimeout(resolve, timeoutMs); });
    await Promise.race([Promise.allSettled([...this.#inFlight]), timeout]);
    if (timer !== undefined) clock.clearTimeout(timer);
    return this.#inFlight.size;
  }

  #guard(method: MethodName, pattern: string, handler: GatewayHandler): RequestHandler {
    return (request) => {
      const caller = this.#check(method, pattern, request);
      let result: ResponseInit | Promise<ResponseInit>;
      try {
        result = handler(request, caller);
      } catch (error) {
        this.#denied(error, request, caller.principal);
        throw error;
      }
      if (!(result instanceof Promise)) return result;
      const tracked = result.catch((error: unknown) => {
        this.#denied(error, request, caller.principal);
        throw error;
      });
      this.#inFlight.add(tracked);
      const forget = (): void => { this.#inFlight.delete(tracked); };
      tracked.then(forget, forget);
      return tracked;
    };
  }

  #sink(pattern: string, request: CoapRequest, create: NonNullable<GatewayResource['createSink']>): UploadSink | Promise<UploadSink> {
    const method = METHOD_NAMES.get(request.method);
    if (method === undefined || method === 'GET') return NO_BODY;
    const caller = this.#check(method, pattern, request);
    return create(request, caller);
  }

  /** The access table's decision, or a thrown AccessDenied (logged and audited). */
  #check(method: MethodName, pattern: string, request: CoapRequest): Caller {
    if (this.#draining) {
      throw new ResponseError(ResponseCode.ServiceUnavailable, 'shutting down', { diagnostic: 'shutting down', maxAge: 5 });
    }
    const decision = authorize({ method, route: pattern, params: request.params, query: request.query, peer: request.peer }, this.#options.authorization);
    if (decision.allowed) {
      // Ids end up in store keys and paths: one that could never have been created
      // (a percent-encoded "/", say) names nothing.
      const id = request.params.id;
      if (id !== undefined && !isValidId(id)) throw new ResponseError(ResponseCode.NotFound, 'invalid id', { diagnostic: 'invalid id' });
      const { principal } = decision.caller;
      if (principal.role === 'node') this.#options.onNodeRequest?.(principal.name, request.peer);
      return decision.caller;
    }
    const code = decision.code === ResponseCode.Unauthorized ? ResponseCode.Unauthorized : ResponseCode.Forbidden;
    const denial = new AccessDenied(code, decision.reason);
    this.#denied(denial, request, decision.principal);
    throw denial;
  }

  #denied(error: unknown, request: CoapRequest, principal: Principal | undefined): void {
    if (!(error instanceof AccessDenied)) return;
    const who = whoOf(principal, request.peer);
    const path = `/${request.path.join('/')}`;
    const method = METHOD_NAMES.get(request.method) ?? String(request.method);
    const code = error.responseCode === ResponseCode.Unauthorized ? '4.01' : '4.03';
    if (!this.#mayRecordDenial()) {
      this.#options.logger.debug({ who, method, path, code }, 'request denied (over the record bound)');
      return;
    }
    this.#options.logger.warn({ who, peer: formatPeer(request.peer), method, path, code, reason: error.message }, 'request denied');
    this.#options.audit({ at: this.#options.now().toISOString(), who, action: 'access.denied', target: path, detail: `${method} ${code}: ${error.message}` });
  }

  #mayRecordDenial(): boolean {
    const now = this.#options.now().getTime();
    const window = this.#denials;
    if (now - window.windowStart >= 1000) {
      if (window.suppressed > 0) {
        this.#options.logger.warn({ suppressed: window.suppressed }, 'denials neither logged nor audited: over the bound');
        this.#options.audit({ at: new Date(now).toISOString(), who: 'gateway', action: 'access.denied.suppressed', target: '/', detail: `${window.suppressed} denials` });
      }
      this.#denials = { windowStart: now, recorded: 0, suppressed: 0 };
    }
    if (this.#denials.recorded >= DENIALS_RECORDED_PER_SECOND) {
      this.#denials.suppressed++;
      return false;
    }
    this.#denials.recorded++;
    return true;
  }
}
