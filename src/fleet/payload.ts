// App payloads in JSON (Content-Format 50) or CBOR (60), chosen by Accept on the way out
// and by Content-Format on the way in (DESIGN §3); errors map to 4.00, 4.06 and 4.15.

import { ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { ResponseError } from '../protocol/errors.js';
import { decodeCbor, encodeCbor } from './cbor.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** A value as the requester accepts it; JSON when no Accept was given. */
export function encodeBody(value: unknown, accept: number | undefined): { payload: Buffer; contentFormat: number } {
  if (accept === undefined || accept === ContentFormat.Json) {
    return { payload: Buffer.from(JSON.stringify(value)), contentFormat: ContentFormat.Json };
  }
  if (accept === ContentFormat.Cbor) return { payload: encodeCbor(value), contentFormat: ContentFormat.Cbor };
  throw new ResponseError(ResponseCode.NotAcceptable, `cannot answer in Content-Format ${accept}`, { diagnostic: 'JSON (50) or CBOR (60)' });
}

/** A request body as a plain value; JSON when no Content-Format was given. `maxBytes`
 * for the few bodies allowed to be larger than MAX_BODY_BYTES (manifests). */
export function decodeBody(payload: Buffer, contentFormat: number | undefined, maxBytes = MAX_BODY_BYTES): unknown {
  if (payload.length > maxBytes) throw new ResponseError(ResponseCode.RequestEntityTooLarge, 'body too large');
  try {
    if (contentFormat === undefined || contentFormat === ContentFormat.Json) return JSON.parse(payload.toString('utf8'));
    if (contentFormat === ContentFormat.Cbor) return decodeCbor(payload);
  } catch (error) {
    throw new ResponseError(ResponseCode.BadRequest, `malformed body: ${(error as Error).message}`, { diagnostic: 'malformed body' });
  }
  throw new ResponseError(ResponseCode.UnsupportedContentFormat, `Content-Format ${contentFormat}`, { diagnostic: 'JSON (50) or CBOR (60)' });
}
