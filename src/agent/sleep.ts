// An abortable wait: every wait of the agent (5.03 Max-Age, retry back-off, periodic work)
// ends at once when the agent stops. On the agent's clock (AgentOptions): the real one, or
// a test's virtual one.

import type { Clock } from '../protocol/interfaces.js';

/** Resolves after `ms` of `clock`; rejects with the signal's reason (an AbortError) as
 * soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal, clock: Clock): Promise<void> {
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
