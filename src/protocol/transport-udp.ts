// Plain CoAP over UDP on node:dgram (RFC 7252 §3): IPv4 or IPv6, bind address and port,
// socket buffer sizes. A send error is logged and dropped: UDP never promised delivery.

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { DatagramHandler, Logger, PeerAddress, Transport } from './interfaces.js';
import { silentLogger } from './runtime.js';

export interface UdpTransportOptions {
  /** Default '::' when IPv6 is wanted, else '0.0.0.0'; an IPv6 address binds an IPv6 socket. */
  readonly host?: string;
  /** 0 picks an ephemeral port. */
  readonly port?: number;
  readonly receiveBufferSize?: number;
  readonly sendBufferSize?: number;
  readonly logger?: Logger;
}

export class UdpTransport implements Transport {
  readonly scheme = 'coap' as const;
  readonly #socket: Socket;
  readonly #logger: Logger;
  #handler: DatagramHandler = () => {};
  #closed = false;

  private constructor(socket: Socket, logger: Logger) {
    this.#socket = socket;
    this.#logger = logger;
    socket.on('message', (data, info) => this.#handler(data, { address: info.address, port: info.port }));
    // An ICMP error from an earlier send surfaces here; it must not take the process down.
    socket.on('error', (error) => this.#logger.warn({ err: error }, 'udp socket error'));
  }

  static async bind(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const host = options.host ?? '0.0.0.0';
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    if (options.receiveBufferSize !== undefined) socket.setRecvBufferSize(options.receiveBufferSize);
    if (options.sendBufferSize !== undefined) socket.setSendBufferSize(options.sendBufferSize);
    return new UdpTransport(socket, options.logger ?? silentLogger);
  }

  address(): PeerAddress {
    const { address, port } = this.#socket.address();
    return { address, port };
  }

  send(data: Buffer, peer: PeerAddress): void {
    if (this.#closed) return;
    this.#socket.send(data, peer.port, peer.address, (error) => {
      if (error !== null && error !== undefined) this.#logger.warn({ err: error, peer }, 'udp send failed');
    });
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
