// An abortable wait on the real clock: every wait of the agent (5.03 Max-Age, retry
// back-off, periodic work) ends at once when the agent stops.

import { setTimeout as delay } from 'node:timers/promises';

/** Resolves after `ms`; rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).then(() => undefined);
}
