// Operators' requests forwarded to a node's agent over the DTLS session the agent opened
// (node-link.ts; DESIGN §5): the gateway path /nodes/{id}/… becomes the agent's path, the
// query, Accept and Content-Format go along, bodies untouched (signed command envelopes
// the gateway cannot and must not alter, DESIGN §6); the answer comes back checked
// (forwarded-response.ts). GETs are served from the response cache while fresh; every
// forwarded write is audited with the agent's answer.

import { decodeBody } from '../fleet/payload.js';
import { gatewayPath } from '../fleet/paths.js';
import { describeCode, Method, ResponseCode } from '../protocol/codes.js';
import { CoapError, ResponseError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';
import { getUintOption, OptionNumber, uintOption, type CoapOption } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import type { Caller } from './authorization.js';
import { BadGateway } from './errors.js';
import { forwardedResponse } from './forwarded-response.js';
import type { NodeLink } from './node-link.js';
import type { AuditEntry, NodeRecord } from './records.js';
import { notFound } from './replies.js';
import { cacheKey, type ResponseCache } from './response-cache.js';
import { whoOf } from './routing.js';

/** The largest representation taken from an agent (Block2 collected whole): a page of
 * logs, a services list. Larger is 5.02: the agent is asked to page (`lines`, `since`). */
export const FORWARD_MAX_BODY_BYTES = 1024 * 1024;

export interface ForwarderContext {
  readonly nodeLink: NodeLink;
  readonly getNode: (id: string) => NodeRecord | undefined;
  readonly cache: ResponseCache;
  readonly audit: (entry: AuditEntry) => void;
  readonly now: () => Date;
  readonly logger: Logger;
}

/** A forwarded request: the agent path's segments, decoded (e.g. ['services', 'nginx']). */
export interface Forward {
  readonly nodeId: string;
  readonly agentPath: readonly string[];
}

export class Forwarder {
  readonly #context: ForwarderContext;
  /** GETs out to an agent, by cache key: added when one goes out, removed when it settles;
   * bounded by NodeLink's pending bounds. */
  readonly #pendingGets = new Map<string, Promise<ResponseInit>>();

  constructor(context: ForwarderContext) {
    this.#context = context;
  }

  /** The node named by the route, or 4.04 for one never registered (or decommissioned). */
  known(nodeId: string): void {
    if (this.#context.getNode(nodeId) === undefined) throw notFound(`node ${nodeId}`);
  }

  /** Forwards `request` as `forward` says and answers with the agent's response. */
  async forward(request: CoapRequest, caller: Caller, forward: Forward): Promise<ResponseInit> {
    const { nodeId } = forward;
    this.known(nodeId);
    if (request.method === Method.GET) return this.#get(request, forward);
    let code: number | undefined;
    try {
      const response = await this.#send(request, forward, hopLimit(request.options));
      code = response.code;
      return response;
    } catch (error) {
      code = error instanceof ResponseError ? error.responseCode : ResponseCode.InternalServerError;
      throw error;
    } finally {
      // Whatever the agent did (or did not say it did), what was cached of it may be stale.
      this.#context.cache.dropNode(nodeId);
      this.#audit(request, caller, forward, code!);
    }
  }

  /** §5.6: a fresh cached response, else the agent's, kept for its Max-Age; GETs for the
   * same key while one is out wait for its answer instead of asking again (a dashboard's
   * burst costs the node one request). */
  #get(request: CoapRequest, forward: Forward): Promise<ResponseInit> {
    const key = this.cacheKey(request, forward);
    const cached = this.#context.cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let options: CoapOption[];
    try {
      // Before sharing another's answer: a request out of hops gets 5.08, never a share.
      options = hopLimit(request.options);
    } catch (error) {
      return Promise.reject(error);
    }
    const pending = this.#pendingGets.get(key);
    if (pending !== undefined) return pending;
    const answer = this.#send(request, forward, options).then((response) => {
      this.#context.cache.set(key, forward.nodeId, response);
      return response;
    });
    this.#pendingGets.set(key, answer);
    const settled = (): void => { this.#pendingGets.delete(key); };
    answer.then(settled, settled);
    return answer;
  }

  cacheKey(request: CoapRequest, forward: Forward): string {
    return cacheKey(forward.nodeId, `/${forward.agentPath.join('/')}`, request.query, request.accept);
  }

  cache(key: string, nodeId: string, response: ResponseInit): void {
    this.#context.cache.set(key, nodeId, response);
  }

  /** `options`: what goes along beside the Uri-*, Content-Format and Accept options. */
  async #send(request: CoapRequest, forward: Forward, options: readonly CoapOption[]): Promise<ResponseInit> {
    const { nodeId, agentPath } = forward;
    let response;
    try {
      response = await this.#context.nodeLink.request(nodeId, {
        method: request.method, path: agentPath, query: request.query, maxBodySize: FORWARD_MAX_BODY_BYTES, options,
        ...(request.payload.length === 0 ? {} : { payload: request.payload }),
        ...(request.contentFormat === undefined ? {} : { contentFormat: request.contentFormat }),
        ...(request.accept === undefined ? {} : { accept: request.accept }),
      });
    } catch (error) {
      throw upstreamFailure(nodeId, error);
    }
    return forwardedResponse(nodeId, request.method, request.accept, response);
  }

  #audit(request: CoapRequest, caller: Caller, forward: Forward, code: number): void {
    const command = commandAction(request);
    const method = Object.entries(Method).find(([, value]) => value === request.method)?.[0] ?? String(request.method);
    this.#context.audit({
      at: this.#context.now().toISOString(),
      who: whoOf(caller.principal, request.peer),
      action: 'node.forward',
      target: `${gatewayPath.node(forward.nodeId)}/${forward.agentPath.map(encodeURIComponent).join('/')}`,
      detail: `${method}${command === undefined ? '' : ` ${command}`}: ${describeCode(code)}`,
    });
  }
}

/** RFC 8768 §3: a proxy decrements Hop-Limit and answers 5.08 instead of forwarding once
 * it reaches 0; absent, it stays absent (the gateway's one hop loops nowhere). */
function hopLimit(options: readonly CoapOption[]): CoapOption[] {
  const limit = getUintOption(options, OptionNumber.HopLimit);
  if (limit === undefined) return [];
  if (limit <= 1) {
    throw new ResponseError(ResponseCode.HopLimitReached, 'hop limit reached', { diagnostic: 'hop limit reached at the coap-fleet gateway' });
  }
  return [uintOption(OptionNumber.HopLimit, limit - 1)];
}

/** NodeLink's 5.04 and 5.03 as they are; a block-wise answer the agent could not complete
 * (inconsistent blocks, too large) is 5.02. */
export function upstreamFailure(nodeId: string, error: unknown): unknown {
  if (error instanceof ResponseError) return error;
  if (error instanceof CoapError && error.code === 'COAP_ERR_BLOCK_TRANSFER') return new BadGateway(nodeId, error.message);
  return error;
}

/** The signed envelope's action ("restart", "service.stop"…), for the audit line; the body
 * is never changed, only read. */
function commandAction(request: CoapRequest): string | undefined {
  if (request.payload.length === 0) return undefined;
  try {
    const body = decodeBody(request.payload, request.contentFormat) as { action?: unknown } | null;
    return typeof body?.action === 'string' && /^[a-z.]{1,32}$/.test(body.action) ? body.action : undefined;
  } catch {
    return undefined;
  }
}
