// How this agent sizes its downloads (issue 12, adaptive transfer): with `block_transfer:
// qblock2` (the default) each download gets its own adaptive tuner (RFC 9177 Q-Block2
// bursts; the client falls back to Block2 against a gateway without it), started from the
// figures the previous download ended with, so a second image on the same link does not
// learn it again from scratch; `block2` asks for lock-step RFC 7959 Block2 only. The
// figures are kept in memory: a restart learns the link anew.

import { TRANSFER_BOUNDS, type TransferReport } from '../fleet/link-quality.js';
import type { TransferStats, TransferTuner } from '../protocol/transfer-tuner.js';
import { AdaptiveTransferTuner } from '../protocol/transfer-tuning.js';
import type { BlockTransfer } from './config.js';

export class DownloadTuning {
  readonly #mode: BlockTransfer;
  #last: TransferStats | undefined;

  constructor(mode: BlockTransfer) {
    this.#mode = mode;
  }

  /** A tuner for one download; undefined for lock-step Block2. */
  tuner(): TransferTuner | undefined {
    return this.#mode === 'qblock2' ? new AdaptiveTransferTuner({}, this.#last) : undefined;
  }

  /** A download ended (complete or not): where its tuner got to starts the next one. */
  remember(tuner: TransferTuner | undefined): void {
    if (tuner !== undefined) this.#last = tuner.stats;
  }
}

// ---- pure ---------------------------------------------------------------------------

/** The tuner's figures as a status report carries them (snake_case, null before an RTT
 * sample; the RTT to 0.1 ms and the loss to 4 places: more says nothing), within the
 * bounds the gateway holds them to: a figure out of them would have it refuse the report,
 * state and all. */
export const transferReportOf = (stats: TransferStats): TransferReport => ({
  block_size: stats.blockSize,
  window: Math.min(stats.window, TRANSFER_BOUNDS.maxWindow),
  rtt_ms: stats.rttMs === undefined ? null : Math.round(Math.min(stats.rttMs, TRANSFER_BOUNDS.maxRttMs) * 10) / 10,
  loss: Math.round(stats.loss * 10_000) / 10_000,
});
