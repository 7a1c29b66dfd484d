// Typed errors of the protocol layers. Each carries a stable `code` string; an error that
// maps to a CoAP response carries that response code too, so a server can answer with it
// without leaking internal text to the peer.

import type { CoapOption } from './options.js';

export class CoapError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** What could be read of a malformed message's header, so the caller can answer with RST
 * or 4.02/4.00 (RFC 7252 §4.2, §4.3) instead of silence. */
export interface PartialHeader {
  readonly type: number;
  readonly code: number;
  readonly messageId: number;
}

/** Thrown by `decode` on bytes that are not a CoAP message (RFC 7252 §3), and by `encode`
 * on a message that cannot be put on the wire. The only error the codec throws. */
export class FormatError extends CoapError {
  readonly header: PartialHeader | undefined;
  constructor(message: string, header?: PartialHeader) {
    super('COAP_ERR_FORMAT', message);
    this.header = header;
  }
}

/** A CON went unacknowledged through all its retransmissions (RFC 7252 §4.2). */
export class RetransmitTimeoutError extends CoapError {
  constructor(message = 'no acknowledgement after the last retransmission') {
    super('COAP_ERR_RETRANSMIT_TIMEOUT', message);
  }
}

/** No response within the request's time limit. */
export class RequestTimeoutError extends CoapError {
  constructor(message: string) {
    super('COAP_ERR_TIMEOUT', message);
  }
}

/** The peer answered with RST (RFC 7252 §4.2, §4.3). */
export class ResetError extends CoapError {
  constructor(message = 'the peer rejected the message with RST') {
    super('COAP_ERR_RESET', message);
  }
}

export class CancelledError extends CoapError {
  constructor(message = 'cancelled') {
    super('COAP_ERR_CANCELLED', message);
  }
}

/** A bounded queue or table is full; the message was not sent. */
export class QueueFullError extends CoapError {
  constructor(message: string) {
    super('COAP_ERR_QUEUE_FULL', message);
  }
}

/** A state machine was asked for a move it does not have (a bug, never a peer's doing). */
export class IllegalTransitionError extends CoapError {
  constructor(machine: string, from: string, to: string) {
    super('COAP_ERR_ILLEGAL_TRANSITION', `illegal ${machine} transition ${from} -> ${to}`);
  }
}

export class ClosedError extends CoapError {
  constructor(message = 'the endpoint is closed') {
    super('COAP_ERR_CLOSED', message);
  }
}

/** Thrown by a request handler to answer with a given response code. The message goes
 * to the peer as a diagnostic payload only when `diagnostic` is set (RFC 7252 §5.5.2);
 * otherwise it stays in our logs. */
export class ResponseError extends CoapError {
  readonly responseCode: number;
  readonly diagnostic: string | undefined;
  readonly maxAge: number | undefined;
  /** Options the response carries, e.g. Size1 with a 4.13. */
  readonly options: readonly CoapOption[];
  constructor(
    responseCode: number, message: string, options: { diagnostic?: string; maxAge?: number; options?: readonly CoapOption[]; code?: string } = {},
  ) {
    super(options.code ?? 'COAP_ERR_RESPONSE', message);
    this.responseCode = responseCode;
    this.diagnostic = options.diagnostic;
    this.maxAge = options.maxAge;
    this.options = options.options ?? [];
  }
}

/** A block-wise transfer could not complete (RFC 7959): the peer answered with an error
 * code, changed the representation too often, or sent more than the limit. */
export class BlockTransferError extends CoapError {
  /** The response code that ended the transfer, when a response did. */
  readonly responseCode: number | undefined;
  constructor(message: string, responseCode?: number) {
    super('COAP_ERR_BLOCK_TRANSFER', message);
    this.responseCode = responseCode;
  }
}
