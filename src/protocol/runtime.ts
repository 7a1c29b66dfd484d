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

export const systemRandom: Random = {
  float: () => Math.random(),
  bytes: (length) => randomBytes(length),
};

const ignore = (): void => {};
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
