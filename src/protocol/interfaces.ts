// The seams of the protocol stack (DESIGN §2): transports below, clock, randomness and
// logging passed in, so every layer above can run on a virtual clock and an in-memory,
// fault-injecting link in tests and on real sockets in the daemons.

/** Where a datagram comes from or goes to. */
export interface PeerAddress {
  readonly address: string;
  readonly port: number;
}

/** A sender as seen by the layers above the transport: its address and, over DTLS, the
 * identity it authenticated with (PSK identity or certificate subject). */
export interface Peer extends PeerAddress {
  readonly identity?: string | undefined;
}

export type DatagramHandler = (data: Buffer, peer: Peer) => void;

/** The transport's association with a peer is over (over DTLS: its session closed, failed,
 * was evicted or replaced, or moved to another address); what the layers above keep for
 * that peer at that address can go. */
export type PeerGoneHandler = (peer: Peer) => void;

/** Send a datagram to a peer, receive datagrams with the peer's address. UDP, DTLS, the
 * in-memory pair and the fault injector all implement it. */
export interface Transport {
  readonly scheme: 'coap' | 'coaps';
  /** The bound address, once bound (port 0 becomes the real port). */
  address(): PeerAddress;
  /** Queues a datagram; delivery is never guaranteed (UDP). Errors are logged, not thrown. */
  send(data: Buffer, peer: PeerAddress): void;
  /** Sets the single receiver of incoming datagrams. */
  onDatagram(handler: DatagramHandler): void;
  /** Sets the single receiver of "peer gone" events; only transports with sessions (DTLS)
   * have them. Plain UDP knows no end of a peer: there, per-peer state ends by timeouts. */
  onPeerGone?(handler: PeerGoneHandler): void;
  /** The message layer is about to send, for the `retransmissions`-th time, a CON to
   * `peer` that nothing has answered; its previous transmission went at `previousSentAt`
   * (clock time): a hint for transports with sessions (a DTLS client probes whether its
   * session is still alive, dtls/transport-dtls.ts). Plain UDP has nothing to do with it. */
  retransmitting?(peer: PeerAddress, retransmissions: number, previousSentAt: number): void;
  close(): Promise<void>;
}

export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface Random {
  /** Uniform in [0, 1). */
  float(): number;
  bytes(length: number): Buffer;
}

type LogMethod = (objectOrMessage: object | string, message?: string) => void;

/** The subset of pino the stack uses; the daemons pass pino child loggers. */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

export const peerKey = (peer: PeerAddress): string => `${peer.address}|${peer.port}`;
export const formatPeer = (peer: PeerAddress): string =>
  peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
