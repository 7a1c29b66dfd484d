// CoAP over WebSocket (RFC 8323 §4) as a Transport for an ordinary Endpoint: each
// connection is a peer (its address, a port number of its own, and the identity the
// application vouched for, e.g. a dashboard login), so the endpoint's router, access rules,
// Observe and Block-wise serve it unchanged. The connection is reliable (§2): a request
// reaches the message layer as a CON with a message ID of this connection's own, every CON
// the endpoint sends (a separate response, a confirmable notification) is acknowledged here
// at once, empty ACKs never go out, and type and message ID are stripped on the way out.
// Signaling (§5) is handled here: CSM first both ways, Ping/Pong, Release and Abort.
// Bounds per connection: message size, requests awaiting their response, observations,
// bytes queued in the socket (a client that reads too slowly is aborted: it reconnects and
// observes the current state again, which is all Observe promises, RFC 7641 §4.5).

import { decode, encode } from './codec.js';
import { codeClass, isRequestCode, Method, ResponseCode } from './codes.js';
import { FormatError } from './errors.js';
import { formatPeer, peerKey, type DatagramHandler, type Logger, type Peer, type PeerAddress, type PeerGoneHandler, type Transport } from './interfaces.js';
import { emptyMessage, MessageType, type Message } from './message.js';
import { getUintOption, OptionNumber, uintOption, withOption } from './options.js';
import { OBSERVE_REGISTER } from './observe-sequence.js';
import { silentLogger } from './runtime.js';
import {
  AbortOption, CsmOption, decodeFrame, DEFAULT_MAX_MESSAGE_SIZE, encodeFrame, isSignalCode, signal, SignalCode,
  unknownCriticalSignalOptions, type FramedMessage,
} from './ws-framing.js';

/** What a connection writes to: a WebSocket (the `ws` package's fits as it is). */
export interface MessageSocket {
  send(data: Buffer): void;
  /** Bytes handed to send() and not yet written to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

export interface WebSocketLimits {
  /** Largest message we take, announced in our CSM (§5.3.1); a larger one is aborted. */
  readonly maxMessageSize: number;
  /** Largest message we send, whatever the client's CSM allows. */
  readonly maxSendSize: number;
  /** Requests of one connection awaiting their response; more get 5.03. */
  readonly pendingRequests: number;
  /** Observations of one connection; a registration past it is served as a plain GET. */
  readonly observations: number;
  /** Bytes queued in the socket before the connection is aborted as too slow. */
  readonly queuedBytes: number;
  /** Bytes queued in all the sockets together: past it the connection with the most
   * queued is aborted (the gateway's memory is bounded however many clients read slowly). */
  readonly totalQueuedBytes: number;
}

export const DEFAULT_WEBSOCKET_LIMITS: WebSocketLimits = {
  maxMessageSize: 128 * 1024,
  maxSendSize: 4 * 1024 * 1024,
  pendingRequests: 32,
  observations: 64,
  queuedBytes: 8 * 1024 * 1024,
  totalQueuedBytes: 32 * 1024 * 1024,
};

/** Room for the header, token and options beside a payload sent whole. */
const HEADER_ROOM = 512;

/** WebSocket close codes (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY = 1008;

/** What the application feeds in from the WebSocket's events. */
export interface ConnectionHandle {
  readonly peer: Peer;
  /** One WebSocket message; `binary` false for a text message (refused: §4.2 is binary). */
  receive(data: Buffer, binary?: boolean): void;
  /** The socket closed, whichever side closed it. */
  closed(): void;
  /** Abort (RFC 8323 §5.6) with a diagnostic, and close. */
  abort(diagnostic: string): void;
}

type ConnectionState = 'awaiting-csm' | 'open' | 'closed';

const tokenKey = (token: Buffer): string => token.toString('hex');

class Connection implements ConnectionHandle {
  readonly peer: Peer;
  readonly #socket: MessageSocket;
  readonly #limits: WebSocketLimits;
  readonly #transport: WebSocketTransport;
  readonly #logger: Logger;
  #state: ConnectionState = 'awaiting-csm';
  /** The client's Max-Message-Size (§5.3.1), from its CSM. */
  #peerMaxMessageSize = DEFAULT_MAX_MESSAGE_SIZE;
  #nextMessageId = 0;
  /** Tokens of requests not yet answered; bounded by limits.pendingRequests. */
  readonly #pending = new Set<string>();
  /** Tokens whose last answer registered an observation; bounded by limits.observations. */
  readonly #observing = new Set<string>();

  constructor(transport: WebSocketTransport, socket: MessageSocket, peer: Peer, limits: WebSocketLimits, logger: Logger) {
    this.#transport = transport;
    this.#socket = socket;
    this.peer = peer;
    this.#limits = limits;
    this.#logger = logger;
    // §5.3: the CSM is the first message each side sends; we need not wait for the client's.
    this.#write(signal(SignalCode.CSM, [uintOption(CsmOption.MaxMessageSize, limits.maxMessageSize)]));
  }

  /** The largest payload a response to this client may carry whole (no Block2). */
  get wholePayloadBytes(): number {
    return Math.min(this.#peerMaxMessageSize, this.#limits.maxSendSize) - HEADER_ROOM;
  }

  receive(data: Buffer, binary = true): void {
    if (this.#state === 'closed') return;
    if (!binary) return this.abort('text messages are not CoAP (RFC 8323 §4.2)');
    if (data.length > this.#limits.maxMessageSize) {
      return this.abort(`message of ${data.length} bytes exceeds the Max-Message-Size of ${this.#limits.maxMessageSize}`);
    }
    let message: FramedMessage;
    try {
      message = decodeFrame(data);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      return this.abort(`malformed message: ${error.message}`);
    }
    if (this.#state === 'awaiting-csm' && message.code !== SignalCode.CSM) {
      return this.abort('the first message must be a CSM (RFC 8323 §5.3)');
    }
    if (isSignalCode(message.code)) return this.#signal(message);
    if (isRequestCode(message.code)) return this.#request(message);
    // §3.4: an empty message is ignored; we send no requests, so a response answers nothing.
    if (message.code !== 0) this.#logger.debug({ peer: formatPeer(this.peer), code: message.code }, 'websocket: unexpected message ignored');
  }

  closed(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#transport.forget(this);
  }

  /** §5.6: Abort with a diagnostic, then close. */
  abort(diagnostic: string, badCsmOption?: number): void {
    if (this.#state === 'closed') return;
    this.#logger.info({ peer: formatPeer(this.peer), reason: diagnostic }, 'websocket: connection aborted');
    const options = badCsmOption === undefined ? [] : [uintOption(AbortOption.BadCsmOption, badCsmOption)];
    // Past the queue bound too: it is the last message, and small.
    this.#socket.send(encodeFrame(signal(SignalCode.Abort, options, diagnostic)));
    this.#close(CLOSE_POLICY, 'abort');
  }

  /** §5.5: Release, then close (the gateway is stopping). */
  release(): void {
    if (this.#state === 'closed') return;
    this.#write(signal(SignalCode.Release, [], 'the gateway is stopping'));
    this.#close(CLOSE_GOING_AWAY, 'release');
  }

  /** A datagram the endpoint sent to this peer, decoded. */
  deliver(message: Message): void {
    if (this.#state === 'closed') return;
    if (message.type === MessageType.RST || (message.type === MessageType.ACK && message.code === 0)) return;
    if (message.type === MessageType.CON) {
      // §2: the connection is reliable; the message layer waits for an ACK, here it is.
      const ack = encode(emptyMessage(MessageType.ACK, message.messageId));
      queueMicrotask(() => { if (this.#state !== 'closed') this.#transport.received(ack, this.peer); });
    }
    let framed: FramedMessage = { code: message.code, token: message.token, options: message.options, payload: message.payload };
    let bytes = encodeFrame(framed);
    if (bytes.length > Math.min(this.#peerMaxMessageSize, this.#limits.maxSendSize)) {
      this.#logger.warn({ peer: formatPeer(this.peer), bytes: bytes.length, max: this.#peerMaxMessageSize }, 'websocket: response larger than the client takes');
      framed = { ...framed, code: ResponseCode.InternalServerError, options: [], payload: Buffer.from('response larger than Max-Message-Size') };
      bytes = encodeFrame(framed);
    }
    this.#answered(framed);
    this.#send(bytes);
  }

  #signal(message: FramedMessage): void {
    const unknown = unknownCriticalSignalOptions(message);
    if (unknown.length > 0) {
      // §5.3.2 (CSM) and §5.1: a critical option we do not know ends the connection.
      return this.abort(`unknown critical option ${unknown[0]} in signal ${message.code >> 5}.0${message.code & 0x1f}`, message.code === SignalCode.CSM ? unknown[0] : undefined);
    }
    switch (message.code) {
      case SignalCode.CSM:
        this.#peerMaxMessageSize = getUintOption(message.options, CsmOption.MaxMessageSize) ?? this.#peerMaxMessageSize;
        this.#state = 'open';
        return;
      case SignalCode.Ping:
        // §5.4: a Pong on the Ping's token.
        return this.#write(signal(SignalCode.Pong, [], '', message.token));
      case SignalCode.Pong:
        return;
      case SignalCode.Release:
      case SignalCode.Abort:
        // §5.5, §5.6: the client is done; so are we.
        this.#logger.debug({ peer: formatPeer(this.peer), diagnostic: message.payload.toString('utf8').slice(0, 200) }, 'websocket: closed by the client');
        return this.#close(CLOSE_NORMAL, 'released');
      default:
        return this.abort(`unknown signal ${message.code >> 5}.0${message.code & 0x1f}`);
    }
  }

  #request(message: FramedMessage): void {
    const key = tokenKey(message.token);
    if (!this.#pending.has(key) && this.#pending.size >= this.#limits.pendingRequests) {
      this.#send(encodeFrame({
        code: ResponseCode.ServiceUnavailable, token: message.token, options: [uintOption(OptionNumber.MaxAge, 1)],
        payload: Buffer.from(`more than ${this.#limits.pendingRequests} requests in flight`),
      }));
      return;
    }
    let options = message.options;
    const observe = message.code === Method.GET ? getUintOption(options, OptionNumber.Observe) : undefined;
    if (observe === OBSERVE_REGISTER && !this.#observing.has(key) && this.#observing.size >= this.#limits.observations) {
      // RFC 7641 §4.1: a server may always answer a registration as a plain GET.
      options = withOption(options, OptionNumber.Observe);
    }
    this.#pending.add(key);
    const messageId = this.#nextMessageId;
    this.#nextMessageId = (messageId + 1) & 0xffff;
    this.#transport.received(encode({ type: MessageType.CON, messageId, code: message.code, token: message.token, options, payload: message.payload }), this.peer);
  }

  /** Keeps the pending and observing sets in step with what went out on a token. */
  #answered(message: FramedMessage): void {
    if (codeClass(message.code) < 2 || codeClass(message.code) > 5) return;
    const key = tokenKey(message.token);
    this.#pending.delete(key);
    if (codeClass(message.code) === 2 && getUintOption(message.options, OptionNumber.Observe) !== undefined) this.#observing.add(key);
    else this.#observing.delete(key);
  }

  #write(message: FramedMessage): void {
    this.#send(encodeFrame(message));
  }

  /** Bytes handed to the socket and not yet written. */
  get queued(): number {
    return this.#socket.bufferedAmount;
  }

  #send(bytes: Buffer): void {
    if (this.#state === 'closed') return;
    if (this.#socket.bufferedAmount + bytes.length > this.#limits.queuedBytes) {
      this.abort(`more than ${this.#limits.queuedBytes} bytes queued: the client reads too slowly`);
      return;
    }
    if (this.#transport.queued() + bytes.length > this.#limits.totalQueuedBytes) {
      // The slowest reader goes first; this one too if that is not enough.
      this.#transport.abortMostQueued(`more than ${this.#limits.totalQueuedBytes} bytes queued for all clients, most of them for this one`);
      // (That may have been this one: abort() changes the state under TypeScript's feet.)
      if ((this.#state as ConnectionState) === 'closed') return;
      if (this.#transport.queued() + bytes.length > this.#limits.totalQueuedBytes) {
        this.abort(`more than ${this.#limits.totalQueuedBytes} bytes queued for all clients`);
        return;
      }
    }
    this.#socket.send(bytes);
  }

  #close(code: number, reason: string): void {
    this.#socket.close(code, reason);
    this.closed();
  }
}

/** The endpoint's view of every WebSocket connection: one Transport, one peer each. */
export class WebSocketTransport implements Transport {
  readonly scheme = 'coap' as const;
  readonly #limits: WebSocketLimits;
  readonly #logger: Logger;
  readonly #connections = new Map<string, Connection>();
  #handler: DatagramHandler = () => {};
  #peerGone: PeerGoneHandler = () => {};
  #nextPort = 1;

  constructor(options: { limits?: Partial<WebSocketLimits>; logger?: Logger } = {}) {
    this.#limits = { ...DEFAULT_WEBSOCKET_LIMITS, ...options.limits };
    this.#logger = options.logger ?? silentLogger;
  }

  get limits(): WebSocketLimits {
    return this.#limits;
  }

  get connections(): number {
    return this.#connections.size;
  }

  /** A new connection from `address`, speaking for `identity`; sends our CSM. */
  attach(socket: MessageSocket, address: string, identity: string): ConnectionHandle {
    const peer: Peer = { address, port: this.#freePort(address), identity };
    const connection = new Connection(this, socket, peer, this.#limits, this.#logger);
    this.#connections.set(peerKey(peer), connection);
    return connection;
  }

  /** Bytes queued in every connection's socket. */
  queued(): number {
    let sum = 0;
    for (const connection of this.#connections.values()) sum += connection.queued;
    return sum;
  }

  /** Aborts the connection with the most bytes queued. */
  abortMostQueued(diagnostic: string): void {
    let most: Connection | undefined;
    for (const connection of this.#connections.values()) if (most === undefined || connection.queued > most.queued) most = connection;
    most?.abort(diagnostic);
  }

  /** The largest payload a response to `peer` carries whole; 0 for other peers. */
  wholePayloadBytes(peer: PeerAddress): number {
    return this.#connections.get(peerKey(peer))?.wholePayloadBytes ?? 0;
  }

  address(): PeerAddress {
    return { address: 'websocket', port: 0 };
  }

  send(data: Buffer, peer: PeerAddress): void {
    const connection = this.#connections.get(peerKey(peer));
    if (connection === undefined) return;
    try {
      connection.deliver(decode(data));
    } catch (error) {
      this.#logger.error({ err: error, peer: formatPeer(peer) }, 'websocket: message not sent');
    }
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  onPeerGone(handler: PeerGoneHandler): void {
    this.#peerGone = handler;
  }

  /** A message from a connection, as a datagram for the message layer. */
  received(data: Buffer, peer: Peer): void {
    this.#handler(data, peer);
  }

  /** A connection closed: what the endpoint keeps for it goes. */
  forget(connection: Connection): void {
    if (this.#connections.get(peerKey(connection.peer)) !== connection) return;
    this.#connections.delete(peerKey(connection.peer));
    this.#peerGone(connection.peer);
  }

  close(): Promise<void> {
    for (const connection of [...this.#connections.values()]) connection.release();
    return Promise.resolve();
  }

  /** A port number no live connection from `address` has. */
  #freePort(address: string): number {
    for (;;) {
      const port = this.#nextPort;
      this.#nextPort = port >= 0xffff ? 1 : port + 1;
      if (!this.#connections.has(peerKey({ address, port }))) return port;
    }
  }
}
