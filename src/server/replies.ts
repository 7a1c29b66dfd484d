// The handlers' small toolkit for app payloads: a request body decoded by its
// Content-Format, a response encoded as the Accept option asks (JSON 50 or CBOR 60), the
// Location of a created resource, and the 4.04 every resource answers for an id it does
// not know.

import { decodeBody, encodeBody } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { OptionNumber, stringOption, type CoapOption } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import { BufferUpload } from './buffer-upload.js';

/** The request body decoded: from the payload, or from the BufferUpload it went to. */
export const readBody = (request: CoapRequest, maxBytes?: number): unknown => decodeBody(
  request.upload instanceof BufferUpload ? request.upload.bytes() : request.payload, request.contentFormat, maxBytes,
);

/** A representation as the requester accepts it. */
export function reply(request: CoapRequest, value: unknown, code: number = ResponseCode.Content): ResponseInit {
  return { code, ...encodeBody(value, request.accept) };
}

/** The Location-Path options of `path` (one from fleet/paths.ts gatewayPath): one per
 * segment, unescaped, since an option carries the segment itself (RFC 7252 §5.10.7). */
export const locationOf = (path: string): CoapOption[] =>
  path.split('/').slice(1).map((segment) => stringOption(OptionNumber.LocationPath, decodeURIComponent(segment)));

export const notFound = (what: string): ResponseError => new ResponseError(ResponseCode.NotFound, `no ${what}`, { diagnostic: `no ${what}` });

/** An object body whose keys are all among `allowed`, or 4.00 naming the first stranger. */
export function objectBody(value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ResponseError(ResponseCode.BadRequest, 'body must be an object', { diagnostic: 'body must be an object' });
  }
  const stranger = Object.keys(value).find((key) => !allowed.includes(key));
  if (stranger !== undefined) {
    throw new ResponseError(ResponseCode.BadRequest, `unknown field ${stranger}`, { diagnostic: `unknown field ${JSON.stringify(stranger)}; allowed: ${allowed.join(', ')}` });
  }
  return value as Record<string, unknown>;
}
