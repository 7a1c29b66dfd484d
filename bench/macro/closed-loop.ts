// A closed loop of requests through our Endpoints (over DTLS or plain UDP): K workers, one
// request outstanding each, each answer starting that worker's next, for a bounded time and
// count. An endpoint sends one confirmable request to a server at a time (NSTART = 1,
// RFC 7252 §4.7), so K requests on the wire take K endpoints: worker w sends through the
// w-th. The request itself is the caller's (a path, a distinct query, a Proxy-Uri), so the
// same loop drives the gateway, its forwarded resources and libcoap's proxy alike.

import { performance } from 'node:perf_hooks';
import type { CoapResponse } from '../../src/protocol/client.js';

export interface LoopOptions {
  /** Requests outstanding at once (K): workers, each with its own endpoint. */
  readonly outstanding: number;
  /** No request starts after this. */
  readonly durationMs: number;
  /** Requests started at most, whatever the clock says. */
  readonly maxCount: number;
}

export interface LoopResult {
  /** Answers the check accepted. */
  readonly count: number;
  /** Errors, timeouts and answers the check refused. */
  readonly failed: number;
  readonly seconds: number;
  /** Of every accepted answer, request to response, ascending. */
  readonly latenciesMs: Float64Array;
  /** The first refusal, to say what went wrong. */
  readonly firstFailure: string | undefined;
}

/** Runs `send(i, w)` for i = 0, 1, … from workers w = 0..K-1; `check` says whether an
 * answer is the expected one (else it counts as failed, with its reason). */
export async function closedLoop(
  send: (index: number, worker: number) => Promise<CoapResponse>,
  check: (response: CoapResponse) => string | undefined,
  options: LoopOptions,
): Promise<LoopResult> {
  const latencies = new Float64Array(options.maxCount);
  let count = 0;
  let failed = 0;
  let begun = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const worker = async (worker: number): Promise<void> => {
    while (begun < options.maxCount && performance.now() < deadline) {
      const index = begun++;
      const sent = performance.now();
      try {
        const problem = check(await send(index, worker));
        if (problem === undefined) latencies[count++] = performance.now() - sent;
        else {
          failed++;
          firstFailure ??= problem;
        }
      } catch (error) {
        failed++;
        firstFailure ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: options.outstanding }, (_, w) => worker(w)));
  const seconds = (performance.now() - started) / 1000;
  return { count, failed, seconds, latenciesMs: latencies.slice(0, count).sort(), firstFailure };
}

/** The q-quantile (0..1) of ascending values; NaN when there are none. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
