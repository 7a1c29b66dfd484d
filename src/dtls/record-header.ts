// What the transport reads from a DTLS record header before any session sees the datagram
// (RFC 6347 §4.1, RFC 9146 §4): the connection ID a tls12_cid record carries, to route it
// to its session whatever address it came from; the random of a ClientHello, to tell a new
// handshake from a retransmission; and whether it returns a cookie, to refuse it before
// any work when the half-open table is full. Only reads; never trusted beyond routing.

const ContentType = { handshake: 22, tls12Cid: 25 } as const;
const HandshakeType = { clientHello: 1 } as const;
/** type(1) version(2) epoch(2) sequence_number(6): the CID follows (RFC 9146 §4). */
const CID_OFFSET = 11;
/** The record header (13) and the handshake header (12) of an unfragmented message. */
const HANDSHAKE_BODY = 25;
/** client_version(2), then random(32) (RFC 5246 §7.4.1.2). */
const RANDOM_OFFSET = HANDSHAKE_BODY + 2;
const RANDOM_LENGTH = 32;

/** The CID of the datagram's first record as a map key (hex), when it is a tls12_cid
 * record long enough to hold one of `length` bytes. */
export function connectionIdOf(datagram: Uint8Array, length: number): string | undefined {
  if (length === 0 || datagram.length < CID_OFFSET + length + 2 || datagram[0] !== ContentType.tls12Cid) return undefined;
  return Buffer.from(datagram.buffer, datagram.byteOffset + CID_OFFSET, length).toString('hex');
}

/** The random of an epoch-0 ClientHello that starts the datagram (first fragment), else
 * undefined. */
export function clientHelloRandom(datagram: Uint8Array): Buffer | undefined {
  if (datagram.length < RANDOM_OFFSET + RANDOM_LENGTH) return undefined;
  if (datagram[0] !== ContentType.handshake || datagram[3] !== 0 || datagram[4] !== 0) return undefined;
  if (datagram[13] !== HandshakeType.clientHello) return undefined;
  // fragment_offset (3 bytes at 19) must be 0: the random is in the first fragment.
  if (datagram[19] !== 0 || datagram[20] !== 0 || datagram[21] !== 0) return undefined;
  return Buffer.from(datagram.subarray(RANDOM_OFFSET, RANDOM_OFFSET + RANDOM_LENGTH));
}

/** True for an epoch-0 ClientHello (first fragment) carrying a non-empty cookie: the one
 * that would make a server allocate a session if the cookie is valid (RFC 6347 §4.2.1). */
export function clientHelloHasCookie(datagram: Uint8Array): boolean {
  if (clientHelloRandom(datagram) === undefined) return false;
  const sessionIdLength = datagram[RANDOM_OFFSET + RANDOM_LENGTH];
  if (sessionIdLength === undefined) return false;
  const cookieLength = datagram[RANDOM_OFFSET + RANDOM_LENGTH + 1 + sessionIdLength];
  return cookieLength !== undefined && cookieLength > 0;
}
