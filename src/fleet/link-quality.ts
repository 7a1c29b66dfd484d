// What is known of a node's link to its gateway (issue 12, adaptive transfer): the figures
// an agent's transfer tuner reports on its status entry while it downloads, and the
// link-quality figure the gateway keeps per node from the latest of them and from its own
// RTT estimate of the node's session (CoCoA, draft-ietf-core-cocoa). Plain numbers, so they
// travel in JSON and CBOR and store in LMDB as they are.

/** `transfer` of a status report (PUT /updates/{id}/status), while downloading and on
 * `downloaded`: the block size and burst window in use, the smoothed time to a window's
 * first block (null before a sample) and the smoothed fraction of blocks lost. */
export interface TransferReport {
  readonly block_size: number;
  readonly window: number;
  readonly rtt_ms: number | null;
  readonly loss: number;
}

/** `link` of GET /nodes/{id} (and of the list): the node's latest transfer report, when
 * the gateway took it, and the gateway's own smoothed RTT to the node's session then (ms;
 * null without a DTLS session or an RTT sample). */
export interface LinkQuality extends TransferReport {
  readonly measured_at: string;
  readonly gateway_rtt_ms: number | null;
}

/** The bounds a transfer report is held to: RFC 7959's block sizes, a window no client
 * asks for more than (RFC 9177 §7.2's MAX_PAYLOADS is 10 by default), an RTT under a day. */
export const TRANSFER_BOUNDS = { maxWindow: 1024, maxRttMs: 86_400_000 } as const;

/** The node's link as of a transfer report taken at `at`, with the gateway's own RTT. */
export const linkQuality = (transfer: TransferReport, at: string, gatewayRttMs: number | undefined): LinkQuality => ({
  ...transfer, measured_at: at, gateway_rtt_ms: gatewayRttMs === undefined ? null : Math.round(gatewayRttMs * 10) / 10,
});
