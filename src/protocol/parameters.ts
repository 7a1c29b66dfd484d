// Transmission parameters of RFC 7252 §4.8 and the times derived from them (§4.8.2),
// configurable per endpoint.

export interface TransmissionParameters {
  /** ms */
  readonly ackTimeout: number;
  readonly ackRandomFactor: number;
  readonly maxRetransmit: number;
  readonly nstart: number;
  /** ms */
  readonly defaultLeisure: number;
}

export const DEFAULT_PARAMETERS: TransmissionParameters = {
  ackTimeout: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  defaultLeisure: 5000,
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
  if (problems.length > 0) throw new RangeError(`bad transmission parameters: ${problems.join('; ')}`);
  return parameters;
}
