// An abortable wait: every wait of the agent (5.03 Max-Age, retry back-off, periodic work)
// ends at once when the agent stops. On the real clock unless a test gives its virtual one.

import type { Clock } from '../protocol/interfaces.js';
import { systemClock } from '../protocol/runtime.js';

/** Resolves after `ms`; rejects with the signal's reason (an AbortError) as soon as
 * `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
