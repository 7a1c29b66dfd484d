// The operator's client of the gateway: its URI and the operator's credentials (a `keys
// generate` credentials file, or DTLS credentials made otherwise), an endpoint to reach
// it, and JSON requests whose 4.xx/5.xx answers throw GatewayError.

import { readCredentialsFile } from '../fleet/credentials-file.js';
import type { DtlsCredentials } from '../dtls/transport-options.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import type { Endpoint, RequestOptions } from '../protocol/endpoint.js';
import { parseUri } from '../protocol/uri.js';
import { openClientEndpoint } from './client-endpoint.js';
import { CredentialsError, GatewayError } from './errors.js';

export const DEFAULT_GATEWAY = 'coap://127.0.0.1:5683';
const REQUEST_TIMEOUT_MS = 30_000;

export interface GatewayOptions {
  /** The gateway's URI without a path (default coap://127.0.0.1:5683). */
  readonly gateway?: string | undefined;
  /** The operator's credentials file from `keys generate` (operator-NAME.json). */
  readonly credentials?: string | undefined;
  /** DTLS credentials made otherwise, instead of `credentials`. */
  readonly dtls?: DtlsCredentials | undefined;
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

async function dtlsCredentials(options: GatewayOptions): Promise<DtlsCredentials | undefined> {
  if (options.credentials === undefined) return options.dtls;
  if (options.dtls !== undefined) throw new CredentialsError('give a credentials file or DTLS credentials, not both');
  try {
    return { mode: 'psk', psk: await readCredentialsFile(options.credentials) };
  } catch (error) {
    throw new CredentialsError((error as Error).message, { cause: error });
  }
}

export async function openGateway(options: GatewayOptions = {}): Promise<GatewayClient> {
  const base = (options.gateway ?? DEFAULT_GATEWAY).replace(/\/+$/, '');
  const uri = parseUri(base);
  const endpoint = await openClientEndpoint(uri, { dtls: await dtlsCredentials(options) });
  const send = async (method: number, path: string, body?: unknown, requestOptions: Partial<RequestOptions> = {}): Promise<CoapResponse> => {
    const response = await endpoint.request({
      uri: `${base}${path}`, method, accept: ContentFormat.Json, timeoutMs: REQUEST_TIMEOUT_MS, ...requestOptions,
      ...(body === undefined ? {} : { payload: JSON.stringify(body), contentFormat: ContentFormat.Json }),
    });
    if (codeClass(response.code) !== 2) throw new GatewayError(response, path);
    return response;
  };
  return {
    base,
    endpoint,
    send,
    async json<T>(method: number, path: string, body?: unknown, requestOptions: Partial<RequestOptions> = {}): Promise<T> {
      const response = await send(method, path, body, requestOptions);
      return (response.payload.length === 0 ? undefined : JSON.parse(response.payload.toString('utf8'))) as T;
    },
    close: () => endpoint.close(),
  };
}
