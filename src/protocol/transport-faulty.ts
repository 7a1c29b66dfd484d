// A fault-injecting wrapper around any transport, seeded so a failing run can be
// replayed: loss, duplication, reordering (a held-back window) and delay with jitter,
// applied to datagrams in both directions.

import type { Clock, DatagramHandler, Peer, PeerAddress, Random, Transport } from './interfaces.js';

export interface FaultOptions {
  /** Probability 0..1 that a datagram is dropped. */
  readonly loss?: number;
  /** Probability 0..1 that a datagram is delivered twice. */
  readonly duplication?: number;
  /** Probability 0..1 that a datagram is held back and overtaken by later ones. */
  readonly reorder?: number;
  /** Base delay and uniform jitter, ms. */
  readonly delayMs?: number;
  readonly jitterMs?: number;
}

/** Decides the fate of one datagram: when to deliver it (ms from now), 0, 1 or 2 times. */
export function planDelivery(faults: FaultOptions, random: Random): number[] {
  if (random.float() < (faults.loss ?? 0)) return [];
  const delay = (): number => {
    let ms = (faults.delayMs ?? 0) + random.float() * (faults.jitterMs ?? 0);
    // Reordering: this one waits long enough for a few later datagrams to pass it.
    if (random.float() < (faults.reorder ?? 0)) ms += (faults.delayMs ?? 0) * 3 + 5 + random.float() * 20;
    return ms;
  };
  const times = [delay()];
  if (random.float() < (faults.duplication ?? 0)) times.push(delay());
  return times;
}

export class FaultyTransport implements Transport {
  readonly #inner: Transport;
  readonly #faults: FaultOptions;
  readonly #random: Random;
  readonly #clock: Clock;
  #handler: DatagramHandler = () => {};

  constructor(inner: Transport, faults: FaultOptions, random: Random, clock: Clock) {
    this.#inner = inner;
    this.#faults = faults;
    this.#random = random;
    this.#clock = clock;
    inner.onDatagram((data, peer) => this.#schedule(() => this.#handler(data, peer)));
  }

  get scheme(): 'coap' | 'coaps' {
    return this.#inner.scheme;
  }

  address(): PeerAddress {
    return this.#inner.address();
  }

  #schedule(deliver: () => void): void {
    for (const ms of planDelivery(this.#faults, this.#random)) {
      if (ms <= 0) deliver();
      else this.#clock.setTimeout(deliver, ms);
    }
  }

  send(data: Buffer, peer: PeerAddress): void {
    this.#schedule(() => this.#inner.send(data, peer));
  }

  onDatagram(handler: (data: Buffer, peer: Peer) => void): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
