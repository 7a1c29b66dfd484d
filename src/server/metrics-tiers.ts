// How the gateway's metrics history thins out with age (DESIGN §7: "metrics ring, bounded
// per node, downsampled with age"): pure functions of the kept sample times and the time
// now, so the tiers are tested without a store or a clock (metrics-history.ts applies them).
//
// The tiers, by the sample's age:
//   under 1 hour    one sample per 5 s   (at most 720: "full resolution" for any agent
//                                         interval of 5 s or more; a faster one is thinned)
//   1 hour to 1 day one per 5 minutes    (at most 276)
//   1 to 30 days    one per hour         (at most 696)
//   older           dropped
// That is about 1700 samples a node (a bucket more at each tier's edge), about 1 MB at
// ~600 bytes a sample; the hard cap
// of 2000 is the backstop for what the tiers do not foresee (a node whose clock jumps
// about, samples from its future), and drops the oldest first. A bucket keeps its oldest
// sample, a real one (never an average: disk and network counters stay consistent), and
// since new samples arrive after it, a bucket's choice never changes once made.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface MetricsTier {
  /** Samples younger than this (and older than the previous tier's bound) are in this tier. */
  readonly maxAgeMs: number;
  /** One sample kept per bucket of this length (aligned to the epoch). */
  readonly bucketMs: number;
}

export const METRICS_TIERS: readonly MetricsTier[] = [
  { maxAgeMs: HOUR, bucketMs: 5 * SECOND },
  { maxAgeMs: DAY, bucketMs: 5 * MINUTE },
  { maxAgeMs: 30 * DAY, bucketMs: HOUR },
];

/** Samples kept per node, whatever the tiers say. */
export const METRICS_CAP_PER_NODE = 2000;

/** The times among `times` (ascending, epoch ms) that the tiers and the cap drop at `now`. */
export function samplesToDrop(times: readonly number[], now: number, tiers: readonly MetricsTier[] = METRICS_TIERS, cap = METRICS_CAP_PER_NODE): number[] {
  const drop: number[] = [];
  const kept: number[] = [];
  let lastBucket: string | undefined;
  for (const at of times) {
    // A sample from the node's future (a clock ahead of ours) counts as new.
    const age = Math.max(0, now - at);
    const tier = tiers.findIndex((candidate) => age < candidate.maxAgeMs);
    if (tier === -1) {
      drop.push(at);
      continue;
    }
    const bucket = `${tier}:${Math.floor(at / tiers[tier]!.bucketMs)}`;
    if (bucket === lastBucket) {
      drop.push(at);
      continue;
    }
    lastBucket = bucket;
    kept.push(at);
  }
  const excess = kept.length - cap;
  if (excess > 0) drop.push(...kept.slice(0, excess));
  return drop.sort((a, b) => a - b);
}
