// The agent's link to its gateway: its side of their wire contract (DESIGN §5): register,
// health, the /updates observation, status reports, the install question and the
// block-wise download. It notices when the gateway comes back after requests failed (a restart), so
// the agent registers again. Update routes carry `?node=ID`: over DTLS the gateway takes
// the node from the identity and ignores it; over plain CoAP on loopback (the `local`
// caller) it is how the gateway knows which node asks.

import { MAX_MANIFEST_BYTES } from '../fleet/manifest.js';
import { GatewayRoute, gatewayPath } from '../fleet/paths.js';
import { encodeBody } from '../fleet/payload.js';
import type { HealthReport, NodeRegistration, StatusReport } from '../fleet/schemas.js';
import type { BlockSink, DownloadResult } from '../protocol/block-client.js';
import type { QBlockDownload } from '../protocol/transfer-tuner.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass, describeCode, Method, ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { Observation } from '../protocol/observe-client.js';
import { getUintOption, OptionNumber } from '../protocol/options.js';
import { AgentError, GatewayRequestError } from './errors.js';

export type InstallAnswer =
  | { readonly kind: 'go' }
  /** 5.03: ask again after `seconds` (Max-Age; RFC 7252's default of 60 when absent). */
  | { readonly kind: 'wait'; readonly seconds: number; readonly reason: string }
  /** 4.03 and other 4.xx: the rollout will never let this node install this update. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** 5.xx other than 5.03: the gateway's trouble; ask again later. */
  | { readonly kind: 'error'; readonly reason: string };

const DEFAULT_MAX_AGE_S = 60;
/** The /updates list holds the manifests this node can act on, usually one: the largest
 * manifest (its chunk hashes and targets) must fit; a larger representation is refused. */
const MAX_LIST_BYTES = MAX_MANIFEST_BYTES;

/** A diagnostic payload as one short line of text (RFC 7252 §5.5.2). */
const diagnostic = (response: CoapResponse): string =>
  response.payload.subarray(0, 200).toString('utf8').replace(/[^\x20-\x7e]+/g, ' ').trim();

export class GatewayLink {
  readonly #endpoint: Endpoint;
  readonly #base: string;
  /** `?node=ID`, for the update routes. */
  readonly #node: string;
  readonly #updatesUri: string;
  readonly #onReconnected: () => void;
  /** A request failed without an answer; the next answer means the gateway is back. */
  #unreachable = false;

  constructor(endpoint: Endpoint, gatewayUri: string, nodeId: string, onReconnected: () => void) {
    this.#endpoint = endpoint;
    this.#base = gatewayUri.replace(/\/+$/, '');
    this.#node = `?node=${encodeURIComponent(nodeId)}`;
    this.#updatesUri = this.#base + GatewayRoute.updates + this.#node;
    this.#onReconnected = onReconnected;
  }

  /** POST /nodes: 'created' (2.01) or 'known' (2.04). */
  async register(registration: NodeRegistration, signal?: AbortSignal): Promise<'created' | 'known'> {
    const response = await this.#send(Method.POST, GatewayRoute.nodes, registration, signal);
    if (response.code === ResponseCode.Created) return 'created';
    if (codeClass(response.code) === 2) return 'known';
    const retryAfterS = response.code === ResponseCode.ServiceUnavailable ? getUintOption(response.options, OptionNumber.MaxAge) : undefined;
    throw new GatewayRequestError('registration refused', response.code, diagnostic(response), retryAfterS);
  }

  /** PUT /nodes/{id}/health; resolves with the response code. */
  async putHealth(nodeId: string, report: HealthReport, signal?: AbortSignal): Promise<number> {
    return (await this.#send(Method.PUT, gatewayPath.health(nodeId), report, signal)).code;
  }

  /** PUT /updates/{id}/status; resolves with the response code. */
  async putStatus(updateId: string, report: StatusReport, signal?: AbortSignal): Promise<number> {
    return (await this.#send(Method.PUT, gatewayPath.status(updateId) + this.#node, report, signal)).code;
  }

  /** PUT /updates/{id}/status in a NON message (RFC 7252 §5.2.3), for download progress:
   * a lost one is superseded by the next, so it is never retransmitted and never takes an
   * NSTART slot from the block requests (§4.7 counts CONs). Resolves with the response
   * code, or undefined when none came within `waitMs`: lost on the way, which says
   * nothing of the gateway's health (NONs may be lost), so it is not a failure here. */
  async putProgress(updateId: string, report: StatusReport, waitMs: number, signal?: AbortSignal): Promise<number | undefined> {
    const encoded = encodeBody(report, ContentFormat.Json);
    try {
      const response = await this.#endpoint.request({
        uri: this.#base + gatewayPath.status(updateId) + this.#node, method: Method.PUT, accept: ContentFormat.Json,
        payload: encoded.payload, contentFormat: encoded.contentFormat, confirmable: false, timeoutMs: waitMs,
        ...(signal === undefined ? {} : { signal }),
      });
      this.#answered();
      return response.code;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'COAP_ERR_TIMEOUT') return undefined;
      throw error;
    }
  }

  /** POST /updates/{id}/install. */
  async askInstall(updateId: string, signal?: AbortSignal): Promise<InstallAnswer> {
    const response = await this.#send(Method.POST, gatewayPath.install(updateId) + this.#node, undefined, signal);
    if (codeClass(response.code) === 2) return { kind: 'go' };
    const reason = response.payload.length > 0 ? diagnostic(response) : describeCode(response.code);
    if (response.code === ResponseCode.ServiceUnavailable) {
      return { kind: 'wait', seconds: getUintOption(response.options, OptionNumber.MaxAge) ?? DEFAULT_MAX_AGE_S, reason };
    }
    return codeClass(response.code) === 4 ? { kind: 'refused', reason } : { kind: 'error', reason };
  }

  /** GET /updates/{id}/download block-wise into `sink`, resuming at `startOffset` (under
   * `etag` when one is given: another restarts at 0); in Q-Block2 bursts sized by
   * `qblock.tuner` when given (RFC 9177, Block2 against a gateway without it). */
  async download(updateId: string, options: {
    readonly sink: BlockSink; readonly startOffset: number; readonly etag: Buffer | undefined; readonly maxSize: number;
    readonly signal: AbortSignal; readonly onProgress: (received: number, total: number | undefined) => void;
    readonly qblock?: QBlockDownload;
  }): Promise<DownloadResult> {
    return this.#track(this.#endpoint.download({ uri: this.#base + gatewayPath.download(updateId) + this.#node, ...options }));
  }

  /** GET /updates with Observe: the first response, the notifications to come, and
   * whether the gateway registered us. A first response without Observe was served as a
   * plain GET (RFC 7641 §4.1: the server may decline to add an observer, at its bound of
   * observers for instance); an error response registers nothing either (§3.2). */
  async observeUpdates(): Promise<{ observation: Observation; first: CoapResponse; registered: boolean }> {
    const { observation, first } = await this.#track(this.#endpoint.observe({ uri: this.#updatesUri, accept: ContentFormat.Json, maxBodySize: MAX_LIST_BYTES }));
    const registered = codeClass(first.code) === 2 && getUintOption(first.options, OptionNumber.Observe) !== undefined;
    return { observation, first, registered };
  }

  /** GET /updates, once (while the gateway declines to register us as an observer). */
  async getUpdates(signal?: AbortSignal): Promise<CoapResponse> {
    return this.#track(this.#endpoint.request({
      uri: this.#updatesUri, accept: ContentFormat.Json, maxBodySize: MAX_LIST_BYTES, ...(signal === undefined ? {} : { signal }),
    }));
  }

  async #send(method: number, path: string, body: unknown, signal: AbortSignal | undefined): Promise<CoapResponse> {
    const encoded = body === undefined ? undefined : encodeBody(body, ContentFormat.Json);
    return this.#track(this.#endpoint.request({
      uri: this.#base + path, method, accept: ContentFormat.Json,
      ...(encoded === undefined ? {} : { payload: encoded.payload, contentFormat: encoded.contentFormat }),
      ...(signal === undefined ? {} : { signal }),
    }));
  }

  /** Any answer after a run of unanswered requests: the gateway is back (perhaps
   * restarted and without our registration). */
  async #track<T>(exchange: Promise<T>): Promise<T> {
    try {
      const result = await exchange;
      this.#answered();
      return result;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // Block-wise errors carrying a response code were answers; cancellations are ours,
      // and so is any agent error a download's sink threw (stopping, a chunk's mismatch).
      const answered = (error as { responseCode?: unknown }).responseCode !== undefined;
      if (!answered && code !== 'COAP_ERR_CANCELLED' && !(error instanceof AgentError)) this.#unreachable = true;
      throw error;
    }
  }

  #answered(): void {
    if (!this.#unreachable) return;
    this.#unreachable = false;
    this.#onReconnected();
  }
}
