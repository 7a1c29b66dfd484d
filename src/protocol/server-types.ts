// What a request handler sees and returns: the contract between the endpoint and the
// applications' resources.

import type { BodySource } from './body.js';
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
  /** The sink a block-wise or whole body was written to, for resources with an
   * `UploadPolicy.createSink`; `payload` is then empty. */
  readonly upload?: UploadSink;
}

/** Where a resource's request bodies go when they are too large for memory. */
export interface UploadSink {
  write(chunk: Buffer, offset: number): void | Promise<void>;
  /** The upload was abandoned or refused: remove what was written. */
  abort(): void | Promise<void>;
}

/** How a resource takes request bodies (RFC 7959 §2.5, §2.9.3). */
export interface UploadPolicy {
  /** Larger bodies get 4.13 with Size1. */
  readonly maxSize: number;
  /** Stream the body to a sink instead of memory. */
  readonly createSink?: (request: CoapRequest) => UploadSink | Promise<UploadSink>;
}

export interface ResponseInit {
  readonly code: number;
  readonly payload?: Buffer | string;
  /** A representation served block-wise from a random-access source (RFC 7959), for
   * bodies too large to hold in memory; instead of `payload`. */
  readonly body?: BodySource;
  readonly contentFormat?: number;
  /** Max-Age in seconds (§5.10.5); omitted means the default of 60. */
  readonly maxAge?: number;
  readonly etag?: Buffer;
  readonly options?: readonly CoapOption[];
}

/** Answers a request; may take its time (the endpoint sends an empty ACK first and a
 * separate response later, RFC 7252 §5.2.2). Throw a ResponseError to answer with a code. */
export type RequestHandler = (request: CoapRequest) => ResponseInit | Promise<ResponseInit>;

/** Where a proxy request points (RFC 7252 §5.7.2): its Proxy-Uri, or its Proxy-Scheme with
 * the Uri-Host, Uri-Port, Uri-Path and Uri-Query options (§6.5). `host` is undefined when a
 * Proxy-Scheme request names none (it then means this endpoint itself). */
export interface ProxyTarget {
  readonly scheme: string;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly path: readonly string[];
  readonly query: readonly string[];
}

/** Maps a proxy request onto one of this endpoint's own resources (a reverse proxy: the
 * request is then routed, authorized and answered as a request for `path`/`query` would
 * be); throws a ResponseError to refuse it (5.05, 4.04…). */
export type ProxyResolver = (target: ProxyTarget, request: CoapRequest) => { readonly path: readonly string[]; readonly query: readonly string[] };
