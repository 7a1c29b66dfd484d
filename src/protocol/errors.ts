// Typed errors of the protocol layers. Each carries a stable `code` string; an error that
// maps to a CoAP response carries that response code too, so a server can answer with it
// without leaking internal text to the peer.

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
