// The ETSI CoAP#4 plugtest server (`coap-fleet plugtest`): the resources the ETSI test
// descriptions TD_COAP_CORE_*, TD_COAP_LINK_*, TD_COAP_OBS_* and TD_COAP_BLOCK_* expect,
// as Californium's and libcoap's plugtest servers serve them, so any CoAP client can be
// checked against our stack, over plain CoAP, DTLS (coaps://, RFC 7252 §9.1) or both. State
// lives in each server instance and is bounded.

import { setTimeout as delay } from 'node:timers/promises';
import { createDtlsEndpoint, type DtlsEndpoint } from '../dtls/dtls-endpoint.js';
import type { DtlsCredentials } from '../dtls/transport-options.js';
import { describeCode, ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { Endpoint } from '../protocol/endpoint.js';
import { ResponseError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';
import { serializeLinks, type LinkAttribute } from '../protocol/link-format.js';
import { MESSAGE_TYPE_NAMES } from '../protocol/message.js';
import { OptionNumber, stringOption } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import { addObserveAndBlockResources, type ObserveAndBlockOptions } from './plugtest-observe-block.js';
import {
  fromRequest, preconditionFailed, representation, respondWith, tooLarge, type Representation,
} from './plugtest-representation.js';

export { LARGE_FILE, LARGE_TEXT, LARGE_UPDATE_MAX_SIZE } from './plugtest-observe-block.js';
export { MAX_STORED_PAYLOAD } from './plugtest-representation.js';

/** How long /separate takes: well past the endpoint's default 500 ms before it sends an
 * empty ACK, so the answer is always a separate response (RFC 7252 §5.2.2). */
export const SEPARATE_DELAY_MS = 1_000;

/** Block-wise uploads in progress at once: each may hold up to 2 MiB (/large-update) in
 * memory until its last block, so this bounds what uploads can take (RFC 7959 §2.5). */
const MAX_UPLOADS = 16;

/** Where POST /test says it created its resource (ETSI TD_COAP_CORE_04, as Californium). */
const CREATED_PATH = ['location1', 'location2', 'location3'] as const;

export interface PlugtestServerOptions {
  /** Default 127.0.0.1: plain CoAP stays on loopback unless asked (DESIGN §6). */
  readonly host?: string;
  /** Default 5683; 0 picks a free port. */
  readonly port?: number;
  readonly logger?: Logger;
  /** How often /obs, /obs-non and /obs-large change; default 5 s as ETSI says. */
  readonly observeIntervalMs?: number;
  /** How often /obs-pumping changes; default 200 ms. */
  readonly pumpingIntervalMs?: number;
  /** Serve over DTLS too, on `port` (default 5684; 0 picks a free one), with these
   * credentials; the resources there have their own state. */
  readonly dtls?: { readonly port?: number; readonly credentials: DtlsCredentials };
  /** Serve plain CoAP (default true); false serves DTLS only and needs `dtls`. */
  readonly plain?: boolean;
}

export interface PlugtestServer {
  /** The plain CoAP endpoint, or the DTLS one when serving DTLS only. */
  readonly endpoint: Endpoint;
  /** The DTLS endpoint, when serving DTLS. */
  readonly dtlsEndpoint: DtlsEndpoint | undefined;
  close(): Promise<void>;
}

export interface PlugtestResourceOptions extends ObserveAndBlockOptions {
  /** Aborting it makes slow handlers (/separate) answer 5.03 at once and stops the timers
   * of the observable resources, so an endpoint can close without a timer left behind. */
  readonly signal?: AbortSignal;
}

export async function startPlugtestServer(options: PlugtestServerOptions = {}): Promise<PlugtestServer> {
  const logger = options.logger === undefined ? {} : { logger: options.logger };
  const host = options.host ?? '127.0.0.1';
  const endpointOptions = { block1Limits: { uploads: MAX_UPLOADS } };
  if (options.plain === false && options.dtls === undefined) throw new TypeError('a plugtest server serves plain CoAP, DTLS or both');
  const endpoints: Endpoint[] = [];
  let dtlsEndpoint: DtlsEndpoint | undefined;
  try {
    if (options.plain !== false) {
      endpoints.push(await Endpoint.udp({ host, port: options.port ?? 5683, ...logger }, { ...logger, ...endpointOptions }));
    }
    if (options.dtls !== undefined) {
      dtlsEndpoint = await createDtlsEndpoint({
        role: 'server', ...options.dtls.credentials, host, port: options.dtls.port ?? 5684, ...logger, endpoint: endpointOptions,
      });
      endpoints.push(dtlsEndpoint);
    }
  } catch (error) {
    for (const endpoint of endpoints) await endpoint.close();
    throw error;
  }
  const closing = new AbortController();
  for (const endpoint of endpoints) {
    addPlugtestResources(endpoint, {
      signal: closing.signal,
      ...(options.observeIntervalMs === undefined ? {} : { observeIntervalMs: options.observeIntervalMs }),
      ...(options.pumpingIntervalMs === undefined ? {} : { pumpingIntervalMs: options.pumpingIntervalMs }),
    });
  }
  let closed: Promise<void> | undefined;
  return {
    endpoint: endpoints[0]!,
    dtlsEndpoint,
    close: () => {
      closed ??= (async () => {
        closing.abort();
        // Lets the aborted handlers' 5.03 go out while the socket is still open.
        await new Promise((resolve) => setImmediate(resolve));
        for (const endpoint of endpoints) await endpoint.close();
      })();
      return closed;
    },
  };
}

/** Type, code, message ID and token of a request, as the ETSI tests ask the server to
 * display them (Californium's /test answers the same way). */
export function describeRequest(request: CoapRequest): string {
  const { message } = request;
  return [
    `Type: ${message.type} (${MESSAGE_TYPE_NAMES[message.type]})`,
    `Code: ${describeCode(message.code)}`,
    `MID: ${message.messageId}`,
    `Token: ${message.token.length === 0 ? '(empty)' : message.token.toString('hex')}`,
  ].join('\n');
}

const text = (payload: string): ResponseInit => ({ code: ResponseCode.Content, payload, contentFormat: ContentFormat.TextPlain });
const title = (value: string): LinkAttribute => ({ name: 'title', value });
const TEXT_FORMAT: LinkAttribute = { name: 'ct', value: '0' };

export function addPlugtestResources(endpoint: Endpoint, options: PlugtestResourceOptions = {}): void {
  addCoreResources(endpoint, options);
  addLinkResources(endpoint);
  addObserveAndBlockResources(endpoint, options);
}

/** TD_COAP_CORE_*: methods, message types, separate responses, paths, queries, locations,
 * content negotiation, validation and conditional requests. */
function addCoreResources(endpoint: Endpoint, { signal }: PlugtestResourceOptions): void {
  const { router } = endpoint;
  /** The resource POST /test creates; one at a time, replaced by the next POST. */
  let createdByPost: Representation | undefined;
  let validate = representation(Buffer.from('Resource which varies'), ContentFormat.TextPlain);
  let create1: Representation | undefined;

  router.add('/test', {
    handlers: {
      GET: (request) => text(describeRequest(request)),
      POST: (request) => {
        const refused = tooLarge(request);
        if (refused !== undefined) return refused;
        createdByPost = fromRequest(request);
        return { code: ResponseCode.Created, options: CREATED_PATH.map((segment) => stringOption(OptionNumber.LocationPath, segment)) };
      },
      PUT: (request) => tooLarge(request) ?? { code: ResponseCode.Changed },
      DELETE: () => ({ code: ResponseCode.Deleted }),
    },
    attributes: [title('Default test resource'), TEXT_FORMAT],
  });
  router.add(`/${CREATED_PATH.join('/')}`, {
    handlers: {
      GET: (request) => (createdByPost === undefined ? { code: ResponseCode.NotFound } : respondWith(request, createdByPost)),
      DELETE: () => {
        createdByPost = undefined;
        return { code: ResponseCode.Deleted };
      },
    },
    hidden: true,
  });

  router.add('/separate', {
    handlers: {
      GET: async (request) => {
        try {
          await delay(SEPARATE_DELAY_MS, undefined, signal === undefined ? {} : { signal });
        } catch {
          throw new ResponseError(ResponseCode.ServiceUnavailable, 'plugtest server closing');
        }
        return text(describeRequest(request));
      },
    },
    attributes: [title('Resource which cannot be served immediately and which cannot be acknowledged in a piggy-backed way'), TEXT_FORMAT],
  });

  router.add('/seg1/seg2/seg3', {
    handlers: { GET: () => text('Long path resource') },
    attributes: [title('Long path resource'), TEXT_FORMAT],
  });

  router.add('/query', {
    handlers: { GET: (request) => text(request.query.join('&')) },
    attributes: [title('Resource accepting query parameters'), TEXT_FORMAT],
  });

  router.add('/location-query', {
    handlers: {
      POST: () => ({
        code: ResponseCode.Created,
        options: ['first=1', 'second=2'].map((argument) => stringOption(OptionNumber.LocationQuery, argument)),
      }),
    },
    attributes: [title('Perform POST transaction with responses containing several Location-Query options')],
  });

  router.add('/multi-format', {
    handlers: {
      GET: (request) => {
        const status = `${MESSAGE_TYPE_NAMES[request.message.type]} ${describeCode(request.method)} ${request.message.messageId}`;
        switch (request.accept ?? ContentFormat.TextPlain) {
          case ContentFormat.TextPlain:
            return text(`Status type: ${status}`);
          case ContentFormat.Xml:
            return { code: ResponseCode.Content, payload: `<msg type="status">${status}</msg>`, contentFormat: ContentFormat.Xml };
          default:
            return { code: ResponseCode.NotAcceptable };
        }
      },
    },
    attributes: [
      title('Resource that exists in different content formats (text/plain utf8 and application/xml)'),
      { name: 'ct', value: `${ContentFormat.TextPlain} ${ContentFormat.Xml}` },
    ],
  });

  router.add('/validate', {
    handlers: {
      GET: (request) => respondWith(request, validate),
      PUT: (request) => {
        const refused = preconditionFailed(request, validate) ?? tooLarge(request);
        if (refused !== undefined) return refused;
        validate = fromRequest(request);
        return { code: ResponseCode.Changed, etag: validate.etag };
      },
    },
    attributes: [title('Resource which varies'), TEXT_FORMAT],
  });

  router.add('/create1', {
    handlers: {
      GET: (request) => (create1 === undefined ? { code: ResponseCode.NotFound } : respondWith(request, create1)),
      PUT: (request) => {
        const refused = preconditionFailed(request, create1) ?? tooLarge(request);
        if (refused !== undefined) return refused;
        const existed = create1 !== undefined;
        create1 = fromRequest(request);
        return { code: existed ? ResponseCode.Changed : ResponseCode.Created, etag: create1.etag };
      },
      DELETE: () => {
        create1 = undefined;
        return { code: ResponseCode.Deleted };
      },
    },
    attributes: [title('Resource which does not exist yet (to perform atomic PUT)')],
  });
}

/** TD_COAP_LINK_*: attributes to filter /.well-known/core by (rt, if, ct, href), with
 * Californium's values, and a resource whose representation is its children's links. */
function addLinkResources(endpoint: Endpoint): void {
  const { router } = endpoint;
  const links: readonly [string, string, string][] = [
    ['/link1', 'Type1 Type2', 'If1'],
    ['/link2', 'Type2 Type3', 'If2'],
    ['/link3', 'Type1 Type3', 'foo'],
  ];
  for (const [path, resourceTypes, interfaces] of links) {
    router.add(path, {
      handlers: { GET: () => text(path) },
      attributes: [title('Link test resource'), { name: 'rt', value: resourceTypes }, { name: 'if', value: interfaces }, TEXT_FORMAT],
    });
  }

  router.add('/path', {
    handlers: {
      GET: () => ({
        code: ResponseCode.Content,
        contentFormat: ContentFormat.LinkFormat,
        payload: serializeLinks(router.links().filter((link) => link.target.startsWith('/path/'))),
      }),
    },
    attributes: [title('Hierarchical link description entry'), { name: 'ct', value: String(ContentFormat.LinkFormat) }],
  });
  for (const child of ['sub1', 'sub2', 'sub3']) {
    router.add(`/path/${child}`, {
      handlers: { GET: () => text(`/path/${child}`) },
      attributes: [title('Hierarchical link description sub-resource'), TEXT_FORMAT],
    });
  }
}
