// The handlers' small toolkit for app payloads: a request body decoded by its
// Content-Format, a response encoded as the Accept option asks (JSON 50 or CBOR 60), and
// the 4.04 every resource answers for an id it does not know.

import { decodeBody, encodeBody } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
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
