// Transmission parameters of RFC 7252 §4.8 and the times derived from them (§4.8.2),
// configurable per endpoint, and how retransmission timeouts are chosen: fixed (§4.8) or
// learnt per peer (CoCoA, draft-ietf-core-cocoa) within bounds.

/** 'fixed': every CON starts at ACK_TIMEOUT and doubles (§4.2). 'cocoa': it starts at the
 * RTO learnt for its peer and backs off by CoCoA's variable factor, its retransmissions
 * kept within MAX_TRANSMIT_SPAN and its give-up within MAX_TRANSMIT_WAIT of the first
 * transmission, the times the peer's deduplication and our request timeouts assume. */
export const CONGESTION_CONTROLS = ['cocoa', 'fixed'] as const;
export type CongestionControl = typeof CONGESTION_CONTROLS[number];

export interface TransmissionParameters {
  /** ms */
  readonly ackTimeout: number;
  readonly ackRandomFactor: number;
  readonly maxRetransmit: number;
  readonly nstart: number;
  /** ms */
  readonly defaultLeisure: number;
  readonly congestionControl: CongestionControl;
  /** Bounds of a learnt RTO (ms); a new peer starts at ACK_TIMEOUT within them, as in §4.8. */
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
}

export const DEFAULT_PARAMETERS: TransmissionParameters = {
  ackTimeout: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  defaultLeisure: 5000,
  congestionControl: 'fixed',
  // Not below our server's wait before an empty ACK (500 ms, §5.2.2): a slower handler
  // would get a retransmission first, and a retransmitted GET runs again (safe requests are
  // not deduplicated, §4.5). A busy Node process (a GC or fsync pause, another process on
  // the core) stalls that long too: seen on loopback, a 100 ms floor retransmitted 1 block
  // request in 60 when the machine was loaded.
  minRtoMs: 500,
  // The largest RTO with which two retransmissions at CoCoA's slowest backoff (x1.5) and
  // the largest dithering (x1.5) still fit in MAX_TRANSMIT_SPAN: 12 s x 1.5 x (1 + 1.5)
  // = 45 s. Larger, a CON would mostly go out once before its span ran out.
  maxRtoMs: 12_000,
};

/** §4.8.2: the longest time a message may take on the network. */
const MAX_LATENCY = 100_000;

export interface DerivedTimes {
  readonly maxTransmitSpan: number;
  readonly maxTransmitWait: number;
  readonly processingDelay: number;
  readonly maxRtt: number;
  readonly exchangeLifetime: number;
  readonly nonLifetime: number;
}

export function deriveTimes(parameters: TransmissionParameters): DerivedTimes {
  const { ackTimeout, ackRandomFactor, maxRetransmit } = parameters;
  const maxTransmitSpan = ackTimeout * (2 ** maxRetransmit - 1) * ackRandomFactor;
  const maxTransmitWait = ackTimeout * (2 ** (maxRetransmit + 1) - 1) * ackRandomFactor;
  const processingDelay = ackTimeout;
  return {
    maxTransmitSpan,
    maxTransmitWait,
    processingDelay,
    maxRtt: 2 * MAX_LATENCY + processingDelay,
    exchangeLifetime: maxTransmitSpan + 2 * MAX_LATENCY + processingDelay,
    nonLifetime: maxTransmitSpan + MAX_LATENCY,
  };
}

export function checkParameters(parameters: TransmissionParameters): TransmissionParameters {
  const { ackTimeout, ackRandomFactor, maxRetransmit, nstart, defaultLeisure } = parameters;
  const problems: string[] = [];
  if (!(ackTimeout > 0)) problems.push('ackTimeout must be > 0 ms');
  if (!(ackRandomFactor >= 1)) problems.push('ackRandomFactor must be >= 1 (§4.8)');
  if (!(Number.isInteger(maxRetransmit) && maxRetransmit >= 0 && maxRetransmit <= 20)) problems.push('maxRetransmit must be an integer 0..20');
  if (!(Number.isInteger(nstart) && nstart >= 1)) problems.push('nstart must be an integer >= 1');
  if (!(defaultLeisure >= 0)) problems.push('defaultLeisure must be >= 0 ms');
  const { congestionControl, minRtoMs, maxRtoMs } = parameters;
  if (!CONGESTION_CONTROLS.includes(congestionControl)) problems.push(`congestionControl must be one of ${CONGESTION_CONTROLS.join(', ')}`);
  if (!(minRtoMs > 0 && minRtoMs <= maxRtoMs && Number.isFinite(maxRtoMs))) problems.push('need 0 < minRtoMs <= maxRtoMs, finite');
  if (problems.length > 0) throw new RangeError(`bad transmission parameters: ${problems.join('; ')}`);
  return parameters;
}
