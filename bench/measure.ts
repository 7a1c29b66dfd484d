// Throughput of synchronous operations: warm-up, then timed rounds interleaved across the
// implementations compared, so drift in the machine (CPU frequency, GC, a noisy neighbour)
// lands on every side alike. Reports the median round. Every loop is bounded in count and time.

import { hrtime } from 'node:process';

export interface Subject {
  readonly impl: string;
  /** One unit of work. Its result is kept so the JIT cannot drop the work as dead code. */
  readonly operation: () => unknown;
}

export interface MeasureOptions {
  readonly warmupMs: number;
  readonly rounds: number;
  readonly roundMs: number;
  /** Upper bound on operations per round (and per warm-up), whatever the clock says. */
  readonly maxOpsPerRound: number;
}

export const DEFAULT_MEASURE: MeasureOptions = { warmupMs: 300, rounds: 5, roundMs: 300, maxOpsPerRound: 50_000_000 };

// The clock is read once per batch so that reading it costs well under 1% of a round.
const BATCH = 256;

// Written on every operation: a result stored to module state escapes, so neither its
// computation nor its allocation can be optimised away.
let sink: unknown;

/** Runs `operation` in batches for up to `ms` and `maxOps`; returns [operations, seconds]. */
function timed(operation: () => unknown, ms: number, maxOps: number): [number, number] {
  const budget = BigInt(Math.round(ms * 1e6));
  const started = hrtime.bigint();
  let elapsed = 0n;
  let ops = 0;
  while (elapsed < budget && ops < maxOps) {
    for (let i = 0; i < BATCH; i++) sink = operation();
    ops += BATCH;
    elapsed = hrtime.bigint() - started;
  }
  return [ops, Number(elapsed) / 1e9];
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** Median operations per second of each subject, by impl name. */
export function opsPerSecond(subjects: readonly Subject[], options: MeasureOptions = DEFAULT_MEASURE): Map<string, number> {
  for (const subject of subjects) timed(subject.operation, options.warmupMs, options.maxOpsPerRound);
  const samples = new Map<string, number[]>(subjects.map((subject) => [subject.impl, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const subject of subjects) {
      const [ops, seconds] = timed(subject.operation, options.roundMs, options.maxOpsPerRound);
      samples.get(subject.impl)!.push(ops / seconds);
    }
  }
  if (sink === undefined) throw new Error('benchmark operations returned nothing to consume');
  return new Map([...samples].map(([impl, values]) => [impl, median(values)]));
}
