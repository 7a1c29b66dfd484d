// What the operator verbs share: the gateway's URI and the operator's credentials
// (a `keys generate` credentials file, or the DTLS flags), an endpoint to reach it, and
// JSON requests with clear errors for a 4.xx/5.xx answer.

import type { CoapResponse } from '../protocol/client.js';
import { codeClass, describeCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { CoapError } from '../protocol/errors.js';
import type { Endpoint, RequestOptions } from '../protocol/endpoint.js';
import { parseUri } from '../protocol/uri.js';
import { CREDENTIALS_FLAG, DTLS_FLAGS, withCredentials, type DtlsFlags } from './dtls-flags.js';
import { openEndpoint } from './request-command.js';

export const GATEWAY_FLAGS = {
  gateway: { type: 'string', value: 'URI', description: 'the gateway (default coap://127.0.0.1:5683; coaps:// needs credentials)' },
  ...CREDENTIALS_FLAG,
  ...DTLS_FLAGS,
} as const;

/** A 4.xx/5.xx from the gateway: exit status 1, with its diagnostic. */
export class GatewayError extends CoapError {
  readonly responseCode: number;
  constructor(response: CoapResponse, what: string) {
    const diagnostic = response.payload.length > 0 && response.payload.length < 300 ? `: ${response.payload.toString('utf8')}` : '';
    super('CLI_ERR_GATEWAY', `${what}: ${describeCode(response.code)}${diagnostic}`);
    this.responseCode = response.code;
  }
}

export interface GatewayClient {
  readonly base: string;
  readonly endpoint: Endpoint;
  /** A request to a path of the gateway with a JSON body; a 4.xx/5.xx throws GatewayError. */
  send(method: number, path: string, body?: unknown, options?: Partial<RequestOptions>): Promise<CoapResponse>;
  /** `send`, and the response's JSON. */
  json<T>(method: number, path: string, body?: unknown, options?: Partial<RequestOptions>): Promise<T>;
  close(): Promise<void>;
}

export async function openGateway(flags: DtlsFlags & { gateway?: string | undefined; credentials?: string | undefined }): Promise<GatewayClient> {
  const base = (flags.gateway ?? 'coap://127.0.0.1:5683').replace(/\/+$/, '');
  const uri = parseUri(base);
  const endpoint = await openEndpoint(uri, undefined, await withCredentials(flags));
  const send = async (method: number, path: string, body?: unknown, options: Partial<RequestOptions> = {}): Promise<CoapResponse> => {
    const response = await endpoint.request({
      uri: `${base}${path}`, method, accept: ContentFormat.Json, timeoutMs: 30_000, ...options,
      ...(body === undefined ? {} : { payload: JSON.stringify(body), contentFormat: ContentFormat.Json }),
    });
    if (codeClass(response.code) !== 2) throw new GatewayError(response, `${path}`);
    return response;
  };
  return {
    base,
    endpoint,
    send,
    async json<T>(method: number, path: string, body?: unknown, options: Partial<RequestOptions> = {}): Promise<T> {
      const response = await send(method, path, body, options);
      return (response.payload.length === 0 ? undefined : JSON.parse(response.payload.toString('utf8'))) as T;
    },
    close: () => endpoint.close(),
  };
}
