// A seeded, reproducible Random (xorshift128+), for tests and fault injection.

import type { Random } from './interfaces.js';

export class SeededRandom implements Random {
  #s0: bigint;
  #s1: bigint;

  constructor(seed: number) {
    // splitmix-style spreading so that small seeds give unrelated streams.
    this.#s0 = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 0x6a09e667f3bcc909n);
    this.#s1 = BigInt.asUintN(64, (this.#s0 ^ (this.#s0 >> 31n)) * 0xbf58476d1ce4e5b9n + 1n);
  }

  #next(): bigint {
    let s1 = this.#s0;
    const s0 = this.#s1;
    this.#s0 = s0;
    s1 ^= BigInt.asUintN(64, s1 << 23n);
    this.#s1 = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    return BigInt.asUintN(64, this.#s1 + s0);
  }

  float(): number {
    return Number(this.#next() >> 11n) / 2 ** 53;
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = Number(this.#next() & 0xffn);
    return out;
  }
}
