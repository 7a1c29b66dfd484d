// The real clock, randomness and a silent logger; tests use virtual-clock.ts and
// seeded-random.ts instead.

import { randomBytes } from 'node:crypto';
import type { Clock, Logger, Random, TimerHandle } from './interfaces.js';

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, delayMs);
    return timer as unknown as TimerHandle;
  },
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};

// Tokens are drawn a few bytes at a time for every request: from a pool refilled 4 KiB at
// a time, so each draw is a copy, not a call into the CSPRNG (still unpredictable, §5.3.1).
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let poolOffset = 0;

export const systemRandom: Random = {
  float: () => Math.random(),
  bytes: (length) => {
    if (length > POOL_BYTES / 4) return randomBytes(length);
    if (poolOffset + length > POOL_BYTES) {
      pool = randomBytes(POOL_BYTES);
      poolOffset = 0;
    }
    const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + length));
    poolOffset += length;
    return bytes;
  },
};

const ignore = (): void => {};
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
