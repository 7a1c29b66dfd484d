// What the plugtest server's writable resources store: a bounded payload with its
// Content-Format and an ETag, and the rules around it: conditional requests (RFC 7252
// §5.10.8), validation by ETag (§5.10.6) and content negotiation by Accept (§5.10.4).

import { createHash } from 'node:crypto';
import { ResponseCode } from '../protocol/codes.js';
import { getOptions, hasOption, OptionNumber, uintOption } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';

/** The largest payload a resource keeps. One datagram cannot reach it today; Block1
 * reassembly (next issue) can, and 4.13 with Size1 is the answer then (RFC 7959 §2.9.3). */
export const MAX_STORED_PAYLOAD = 1024 * 1024;

export interface Representation {
  readonly payload: Buffer;
  /** Undefined when the client sent no Content-Format: we do not guess one. */
  readonly contentFormat: number | undefined;
  readonly etag: Buffer;
}

/** The ETag is a digest of what is stored, so it changes whenever the content or its format
 * changes and a client's cached copy validates only against the same bytes (§5.10.6.1). */
export function representation(payload: Buffer, contentFormat: number | undefined): Representation {
  const digest = createHash('sha256').update(String(contentFormat ?? '')).update('\0').update(payload).digest();
  // A copy: the request's payload is a view into the received datagram.
  return { payload: Buffer.from(payload), contentFormat, etag: digest.subarray(0, 8) };
}

export function fromRequest(request: CoapRequest): Representation {
  return representation(request.payload, request.contentFormat);
}

/** 4.13 with Size1 telling the client the limit (RFC 7252 §5.9.2.9), or undefined. */
export function tooLarge(request: CoapRequest): ResponseInit | undefined {
  if (request.payload.length <= MAX_STORED_PAYLOAD) return undefined;
  return { code: ResponseCode.RequestEntityTooLarge, options: [uintOption(OptionNumber.Size1, MAX_STORED_PAYLOAD)] };
}

/** §5.10.8: If-Match holds when one value is the current ETag, or is empty and the resource
 * exists; If-None-Match holds only when it does not exist. Either failing is 4.12. */
export function preconditionFailed(request: CoapRequest, current: Representation | undefined): ResponseInit | undefined {
  const ifMatch = getOptions(request.options, OptionNumber.IfMatch);
  const matchFails = ifMatch.length > 0
    && (current === undefined || !ifMatch.some((value) => value.length === 0 || value.equals(current.etag)));
  const noneMatchFails = current !== undefined && hasOption(request.options, OptionNumber.IfNoneMatch);
  return matchFails || noneMatchFails ? { code: ResponseCode.PreconditionFailed } : undefined;
}

/** GET of a stored representation: 2.03 when the client already holds it (§5.9.1.3), 4.06
 * when it accepts only another format, 2.05 otherwise; the ETag goes with both successes. */
export function respondWith(request: CoapRequest, current: Representation, maxAge?: number): ResponseInit {
  const age = maxAge === undefined ? {} : { maxAge };
  if (getOptions(request.options, OptionNumber.ETag).some((value) => value.equals(current.etag))) {
    return { code: ResponseCode.Valid, etag: current.etag, ...age };
  }
  if (request.accept !== undefined && current.contentFormat !== undefined && request.accept !== current.contentFormat) {
    return { code: ResponseCode.NotAcceptable };
  }
  return {
    code: ResponseCode.Content,
    payload: current.payload,
    etag: current.etag,
    ...(current.contentFormat === undefined ? {} : { contentFormat: current.contentFormat }),
    ...age,
  };
}
