// An in-memory datagram link for tests: a network of transports, each with an address,
// delivering through the clock (so a virtual clock decides when a datagram arrives).

import type { Clock, DatagramHandler, PeerAddress, Transport } from './interfaces.js';
import { peerKey } from './interfaces.js';

export class MemoryNetwork {
  readonly #clock: Clock;
  readonly #transports = new Map<string, MemoryTransport>();
  readonly #latencyMs: number;
  #nextPort = 40000;

  constructor(clock: Clock, latencyMs = 1) {
    this.#clock = clock;
    this.#latencyMs = latencyMs;
  }

  /** A transport on 127.0.0.1 with a fresh port unless one is given. */
  transport(address: PeerAddress = { address: '127.0.0.1', port: this.#nextPort++ }): MemoryTransport {
    const transport = new MemoryTransport(this, address);
    this.#transports.set(peerKey(address), transport);
    return transport;
  }

  deliver(data: Buffer, from: PeerAddress, to: PeerAddress): void {
    // A copy: the receiver must not see later changes to the sender's buffer.
    const copy = Buffer.from(data);
    this.#clock.setTimeout(() => this.#transports.get(peerKey(to))?.receive(copy, from), this.#latencyMs);
  }

  remove(address: PeerAddress): void {
    this.#transports.delete(peerKey(address));
  }
}

export class MemoryTransport implements Transport {
  readonly scheme = 'coap' as const;
  readonly #network: MemoryNetwork;
  readonly #address: PeerAddress;
  #handler: DatagramHandler = () => {};
  #closed = false;

  constructor(network: MemoryNetwork, address: PeerAddress) {
    this.#network = network;
    this.#address = address;
  }

  address(): PeerAddress {
    return this.#address;
  }

  send(data: Buffer, peer: PeerAddress): void {
    if (!this.#closed) this.#network.deliver(data, this.#address, peer);
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  receive(data: Buffer, from: PeerAddress): void {
    if (!this.#closed) this.#handler(data, from);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#network.remove(this.#address);
    return Promise.resolve();
  }
}
