// What a request handler sees and returns: the contract between the endpoint and the
// applications' resources.

import type { Peer } from './interfaces.js';
import type { Message } from './message.js';
import type { CoapOption } from './options.js';

export interface CoapRequest {
  readonly method: number;
  /** Uri-Path segments, decoded. */
  readonly path: readonly string[];
  /** Values of the pattern's {parameters}. */
  readonly params: Readonly<Record<string, string>>;
  /** Uri-Query arguments, decoded. */
  readonly query: readonly string[];
  readonly options: readonly CoapOption[];
  readonly payload: Buffer;
  readonly contentFormat: number | undefined;
  readonly accept: number | undefined;
  /** The sender, with its authenticated identity over DTLS. */
  readonly peer: Peer;
  readonly token: Buffer;
  readonly confirmable: boolean;
  readonly message: Message;
}

export interface ResponseInit {
  readonly code: number;
  readonly payload?: Buffer | string;
  readonly contentFormat?: number;
  /** Max-Age in seconds (§5.10.5); omitted means the default of 60. */
  readonly maxAge?: number;
  readonly etag?: Buffer;
  readonly options?: readonly CoapOption[];
}

/** Answers a request; may take its time (the endpoint sends an empty ACK first and a
 * separate response later, RFC 7252 §5.2.2). Throw a ResponseError to answer with a code. */
export type RequestHandler = (request: CoapRequest) => ResponseInit | Promise<ResponseInit>;
