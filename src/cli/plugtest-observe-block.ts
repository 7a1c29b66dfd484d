// The plugtest resources that exist for Observe (RFC 7641; ETSI TD_COAP_OBS_*) and
// Block-wise (RFC 7959; TD_COAP_BLOCK_*). The stack does neither yet: until the next issue
// completes them, they answer plain GET/PUT/POST correctly in one datagram each way and
// already advertise `obs` and `sz` in /.well-known/core as the finished server will.

import { ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { LinkAttribute } from '../protocol/link-format.js';
import { OptionNumber, stringOption } from '../protocol/options.js';
import type { ResponseInit } from '../protocol/server-types.js';
import { fromRequest, representation, respondWith, tooLarge, type Representation } from './plugtest-representation.js';

/** Seconds an observable value stays fresh: it changes at least this often (RFC 7641 §4.2). */
const OBSERVE_MAX_AGE = 5;
/** Representations /large-create keeps; the oldest goes first. With MAX_STORED_PAYLOAD each,
 * this bounds the resource's memory. */
const MAX_CREATED = 8;

/** 1,280 bytes of text: five 256-byte blocks of four 64-byte lines, so a Block2 transfer
 * of any size shows which block arrived (as Californium's /large does). */
export const LARGE_TEXT: string = (() => {
  const lines: string[] = [];
  for (let block = 1; block <= 5; block++) {
    for (let line = 1; line <= 4; line++) {
      lines.push(`| RESOURCE BLOCK NO. ${block} OF 5, LINE ${line} OF 4`.padEnd(62, ' ') + '|');
    }
  }
  return `${lines.join('\n')}\n`;
})();

const now = (): string => new Date().toISOString();

const text = (payload: string, maxAge?: number): ResponseInit => ({
  code: ResponseCode.Content,
  payload,
  contentFormat: ContentFormat.TextPlain,
  ...(maxAge === undefined ? {} : { maxAge }),
});

// One rt per link, its value a list (RFC 6690 §3.1).
const observable = (title: string, resourceTypes = 'observe'): LinkAttribute[] => [
  { name: 'title', value: title }, { name: 'rt', value: resourceTypes }, { name: 'ct', value: '0' }, { name: 'obs' },
];

const block = (title: string, size?: number): LinkAttribute[] => [
  { name: 'title', value: title }, { name: 'rt', value: 'block' },
  ...(size === undefined ? [] : [{ name: 'sz', value: String(size) }]),
];

export function addObserveAndBlockResources(endpoint: Endpoint): void {
  const { router } = endpoint;
  let largeUpdate: Representation = representation(Buffer.from(LARGE_TEXT), ContentFormat.TextPlain);
  /** Created by POST /large-create, by id in creation order; at most MAX_CREATED. */
  const created = new Map<string, Representation>();
  let nextId = 1;

  router.add('/obs', {
    handlers: { GET: () => text(now(), OBSERVE_MAX_AGE) },
    attributes: observable('Observable resource which changes every 5 seconds'),
  });
  router.add('/obs-non', {
    handlers: { GET: () => text(now(), OBSERVE_MAX_AGE) },
    attributes: observable('Observable resource which changes every 5 seconds, notified in NON messages'),
  });
  router.add('/obs-pumping', {
    handlers: { GET: () => text(now(), OBSERVE_MAX_AGE) },
    attributes: observable('Observable resource whose notifications come faster than they are acknowledged'),
  });
  router.add('/obs-large', {
    handlers: { GET: () => text(`${now()}\n${LARGE_TEXT}`, OBSERVE_MAX_AGE) },
    attributes: observable('Observable resource larger than one block', 'observe block'),
  });

  router.add('/large', {
    handlers: { GET: () => text(LARGE_TEXT) },
    attributes: [...block('Large resource', Buffer.byteLength(LARGE_TEXT)), { name: 'ct', value: '0' }],
  });
  router.add('/large-update', {
    handlers: {
      GET: (request) => respondWith(request, largeUpdate),
      PUT: (request) => {
        const refused = tooLarge(request);
        if (refused !== undefined) return refused;
        largeUpdate = fromRequest(request);
        return { code: ResponseCode.Changed, etag: largeUpdate.etag };
      },
    },
    attributes: block('Large resource that can be updated using PUT', Buffer.byteLength(LARGE_TEXT)),
  });
  router.add('/large-create', {
    handlers: {
      POST: (request) => {
        const refused = tooLarge(request);
        if (refused !== undefined) return refused;
        const id = String(nextId++);
        created.set(id, fromRequest(request));
        if (created.size > MAX_CREATED) created.delete(created.keys().next().value!);
        return {
          code: ResponseCode.Created,
          options: [stringOption(OptionNumber.LocationPath, 'large-create'), stringOption(OptionNumber.LocationPath, id)],
        };
      },
    },
    attributes: block('Large resource that can be created using POST'),
  });
  router.add('/large-create/{id}', {
    handlers: {
      GET: (request) => {
        const current = created.get(request.params.id!);
        return current === undefined ? { code: ResponseCode.NotFound } : respondWith(request, current);
      },
      DELETE: (request) => {
        created.delete(request.params.id!);
        return { code: ResponseCode.Deleted };
      },
    },
  });
  router.add('/large-post', {
    handlers: {
      POST: (request) => tooLarge(request) ?? {
        code: ResponseCode.Changed,
        payload: request.payload,
        ...(request.contentFormat === undefined ? {} : { contentFormat: request.contentFormat }),
      },
    },
    attributes: block('Large resource that echoes what is POSTed to it'),
  });
}
