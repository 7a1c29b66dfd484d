// The retransmission timeout a peer's link earns, after CoCoA (draft-ietf-core-cocoa-03
// §4): a strong and a weak RTT estimator (RFC 6298 §2), an overall RTO fed by both,
// a variable backoff factor, and aging back toward the default when unused. Pure
// functions over one peer's figures; the message layer keeps them and drives the timers.

/** One RFC 6298 estimator: smoothed RTT and its variation (ms), and how many samples. */
export interface RttEstimator {
  readonly srtt: number;
  readonly rttvar: number;
  readonly samples: number;
}

/** What a peer's link is known to need. `rto` is RTO_overall (ms), always within the
 * bounds; `updatedAt` is when a sample or aging last changed it (the clock's ms). */
export interface LinkEstimate {
  readonly rto: number;
  readonly strong: RttEstimator | undefined;
  readonly weak: RttEstimator | undefined;
  readonly updatedAt: number;
}

/** The RTO a peer starts with (ACK_TIMEOUT) and the range every estimate is kept in. */
export interface RtoBounds {
  readonly initialRtoMs: number;
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
}

/** Strong: answered at the first transmission. Weak: answered after one or two
 * retransmissions, the RTT taken from the first transmission: which copy was answered is
 * unknown (Karn's ambiguity), so CoCoA takes only a weak sample, and none after more. */
export type SampleKind = 'strong' | 'weak';

/** The weak estimator's K is 1 (RFC 6298's is 4), and it moves the overall RTO
 * with weight 1/4 against the strong one's 1/2. */
const ESTIMATOR = {
  strong: { k: 4, weight: 0.5 },
  weak: { k: 1, weight: 0.25 },
} as const;

/** CoCoA's thresholds: an RTO below 1 s is "small", above 3 s "large". */
const SMALL_RTO_MS = 1000;
const LARGE_RTO_MS = 3000;

export function sampleKind(retransmissions: number): SampleKind | undefined {
  if (retransmissions === 0) return 'strong';
  if (retransmissions <= 2) return 'weak';
  return undefined;
}

export function initialEstimate(bounds: RtoBounds, now: number): LinkEstimate {
  return { rto: clamp(bounds.initialRtoMs, bounds), strong: undefined, weak: undefined, updatedAt: now };
}

/** Feeds one RTT sample (ms) to its estimator and the overall RTO. A sample that is not a
 * finite, non-negative number is ignored, so no input can make the RTO NaN. */
export function addSample(estimate: LinkEstimate, kind: SampleKind, rttMs: number, now: number, bounds: RtoBounds): LinkEstimate {
  if (!(Number.isFinite(rttMs) && rttMs >= 0)) return estimate;
  const updated = updateEstimator(estimate[kind], rttMs);
  const { k, weight } = ESTIMATOR[kind];
  const estimatorRto = updated.srtt + k * updated.rttvar;
  const rto = clamp(weight * estimatorRto + (1 - weight) * estimate.rto, bounds);
  return { ...estimate, [kind]: updated, rto, updatedAt: now };
}

/** CoCoA's aging: an RTO not updated for a while drifts back toward the default, so a peer heard
 * from again is not met with a stale figure. Below 1 s, each 16 x RTO without an update
 * doubles it; above 3 s, each 4 x RTO halves its distance to 2 s (RTO := 1 s + RTO / 2). */
export function aged(estimate: LinkEstimate, now: number, bounds: RtoBounds): LinkEstimate {
  let { rto, updatedAt } = estimate;
  for (;;) {
    let next: number;
    let period: number;
    if (rto < SMALL_RTO_MS) {
      period = 16 * rto;
      next = 2 * rto;
    } else if (rto > LARGE_RTO_MS) {
      period = 4 * rto;
      next = SMALL_RTO_MS + rto / 2;
    } else {
      break;
    }
    next = clamp(next, bounds);
    if (!(now - updatedAt > period) || next === rto) break;
    updatedAt += period;
    rto = next;
  }
  return rto === estimate.rto ? estimate : { ...estimate, rto, updatedAt };
}

/** CoCoA's variable backoff factor, chosen by the RTO an exchange started with: a
 * small RTO backs off faster (x3), a large one slower (x1.5), RFC 7252's x2 between. */
export function backoffFactor(rtoMs: number): number {
  if (rtoMs < SMALL_RTO_MS) return 3;
  if (rtoMs > LARGE_RTO_MS) return 1.5;
  return 2;
}

/** RFC 6298 §2.2 for the first sample, §2.3 (alpha 1/8, beta 1/4) for the next ones. */
function updateEstimator(estimator: RttEstimator | undefined, rttMs: number): RttEstimator {
  if (estimator === undefined) return { srtt: rttMs, rttvar: rttMs / 2, samples: 1 };
  const rttvar = 0.75 * estimator.rttvar + 0.25 * Math.abs(estimator.srtt - rttMs);
  const srtt = 0.875 * estimator.srtt + 0.125 * rttMs;
  return { srtt, rttvar, samples: estimator.samples + 1 };
}

function clamp(rto: number, bounds: RtoBounds): number {
  return Math.min(bounds.maxRtoMs, Math.max(bounds.minRtoMs, rto));
}
