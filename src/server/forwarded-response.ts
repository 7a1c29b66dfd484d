// What the gateway passes back of a node agent's answer to a forwarded request (RFC 7252
// §5.7.2: a forward-proxy relays the response): its code, payload, Content-Format, Max-Age
// and ETag, once it is a valid response to what was forwarded; anything else is 5.02 Bad
// Gateway with a diagnostic, never the agent's garbage handed on as if it were sound.

import { decodeBody } from '../fleet/payload.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass, describeCode, Method, ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { getOption, getUintOption, OptionNumber } from '../protocol/options.js';
import type { ResponseInit } from '../protocol/server-types.js';
import { BadGateway } from './errors.js';

/** The success codes each method may get (RFC 7252 §5.8, §5.9.1): 2.05 only for GET
 * (2.03 only answers an ETag, and the gateway forwards none); 2.31 Continue is never final. */
const SUCCESS_CODES: ReadonlyMap<number, readonly number[]> = new Map([
  [Method.GET, [ResponseCode.Content]],
  [Method.POST, [ResponseCode.Created, ResponseCode.Deleted, ResponseCode.Changed]],
  [Method.PUT, [ResponseCode.Created, ResponseCode.Changed]],
  [Method.DELETE, [ResponseCode.Deleted]],
]);

/** The agent's answer as the gateway's own, or BadGateway saying what is wrong with it. */
export function forwardedResponse(nodeId: string, method: number, accept: number | undefined, response: CoapResponse): ResponseInit {
  const { code, payload, contentFormat } = response;
  const kind = codeClass(code);
  if (kind === 2 && !(SUCCESS_CODES.get(method) ?? []).includes(code)) {
    throw new BadGateway(nodeId, `${describeCode(code)} is no answer to ${describeCode(method)}`);
  }
  if (kind !== 2 && kind !== 4 && kind !== 5) throw new BadGateway(nodeId, `${describeCode(code)} is not a response code`);
  if (kind === 2 && payload.length > 0 && accept !== undefined && contentFormat !== accept) {
    // §5.10.4: the server answers in the format asked for, or 4.06.
    throw new BadGateway(nodeId, `answered in Content-Format ${contentFormat ?? 'none'}, asked for ${accept}`);
  }
  if (payload.length > 0 && (contentFormat === ContentFormat.Json || contentFormat === ContentFormat.Cbor)) {
    try {
      decodeBody(payload, contentFormat, payload.length);
    } catch {
      throw new BadGateway(nodeId, `the payload is not the ${contentFormat === ContentFormat.Json ? 'JSON' : 'CBOR'} it claims to be`);
    }
  }
  const maxAge = getUintOption(response.options, OptionNumber.MaxAge);
  const etag = getOption(response.options, OptionNumber.ETag);
  return {
    code,
    ...(payload.length === 0 ? {} : { payload }),
    ...(contentFormat === undefined ? {} : { contentFormat }),
    ...(maxAge === undefined ? {} : { maxAge }),
    ...(etag === undefined ? {} : { etag }),
  };
}
