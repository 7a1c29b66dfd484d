// Two endpoints on a virtual clock joined by an in-memory link whose client side drops,
// duplicates, reorders and delays datagrams (seeded), and a driver that runs the clock
// timer by timer, letting promises settle between timers as the event loop would, and the
// waits built on it (a promise settled, a condition met, a span of time passed).

import { Endpoint, type EndpointOptions } from '../../src/protocol/endpoint.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../src/protocol/transport-memory.js';
import { FaultyTransport, type FaultOptions } from '../../src/protocol/transport-faulty.js';
import { VirtualClock } from '../../src/protocol/virtual-clock.js';

/** Lets every promise that can settle now settle, as the event loop would between timers. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs the clock until `done()`, `limitMs` of virtual time, or `maxSteps` timers. */
export async function drive(clock: VirtualClock, done: () => boolean, limitMs: number, maxSteps = 2_000_000): Promise<void> {
  const end = clock.now() + limitMs;
  for (let steps = 0; steps < maxSteps && !done() && clock.now() < end; steps++) {
    await flush();
    if (!done() && !clock.runNext()) break;
  }
  await flush();
}

export interface LossyWorld {
  readonly clock: VirtualClock;
  readonly server: Endpoint;
  readonly client: Endpoint;
  close(): Promise<void>;
}

export function lossyWorld(
  seed: number, faults: FaultOptions,
  options: { server?: Partial<EndpointOptions>; client?: Partial<EndpointOptions> } = {},
): LossyWorld {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const faultyClient = new FaultyTransport(
    network.transport(), { delayMs: 2, jitterMs: 10, ...faults }, new SeededRandom(seed * 3 + 3), clock,
  );
  const server = new Endpoint({
    separateResponseDelayMs: 500, ...options.server, transport: network.transport(), clock, random: new SeededRandom(seed * 3 + 1),
  });
  const client = new Endpoint({ ...options.client, transport: faultyClient, clock, random: new SeededRandom(seed * 3 + 2) });
  return { clock, server, client, close: async () => { await Promise.all([server.close(), client.close()]); } };
}

/** Runs the clock until `promise` settles and returns its outcome; fails with `what` when
 * `limitMs` of virtual time pass first. */
export async function settle<T>(clock: VirtualClock, promise: Promise<T>, what: string, limitMs = 300_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => { settled = true; });
  // Handled now, so a rejection met while the clock is driven is not an unhandled one
  // (which ends the process); it is still thrown below.
  tracked.catch(() => {});
  await drive(clock, () => settled, limitMs);
  if (!settled) {
    throw new Error(`${what}: not settled within ${limitMs} ms of virtual time`);
  }
  return tracked;
}

/** Runs the clock until `condition()` holds; fails with `what` when `limitMs` of virtual
 * time pass first. */
export async function until(clock: VirtualClock, what: string, condition: () => boolean, limitMs = 60_000): Promise<void> {
  await drive(clock, condition, limitMs);
  if (!condition()) throw new Error(`${what}: not within ${limitMs} ms of virtual time`);
}

/** Moves the clock `ms` forward a step at a time, letting promises settle after each, so
 * no timer due later (a retransmission, a request's time limit) runs. */
export async function advanceBy(clock: VirtualClock, ms: number, stepMs = 1): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
    clock.advance(Math.min(stepMs, ms - elapsed));
    await flush();
  }
}
