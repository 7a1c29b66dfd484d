// The contract between a Q-Block2 download (RFC 9177) and whoever sizes its requests: the
// client asks the tuner, before each request, for the block size and how many blocks to
// ask for at once (the burst window), and tells it, after each window, what came back. A
// tuner that learns from the link (transfer-tuning.ts) and a fixed one both fit it.

/** What one window taught: blocks asked for, blocks that arrived (new, in time), and the
 * time from the request to the window's end (its last block, or the receive timeout). */
export interface WindowSample {
  readonly asked: number;
  readonly received: number;
  readonly elapsedMs: number;
}

/** The tuner's figures, as the agent reports them on its status entry. */
export interface TransferStats {
  /** Bytes per block now in use. */
  readonly blockSize: number;
  /** Blocks asked for per request now. */
  readonly window: number;
  /** Smoothed time for a window's first block to arrive, ms; undefined before a sample. */
  readonly rttMs: number | undefined;
  /** Smoothed fraction of asked blocks that did not arrive, 0..1. */
  readonly loss: number;
}

export interface TransferTuner {
  /** The size exponent (SZX, RFC 7959 §2.2) and window for the next request. */
  next(): { readonly sizeExponent: number; readonly window: number };
  /** One window's outcome; `rttMs` when the window's first block was timed. */
  observe(sample: WindowSample & { readonly rttMs?: number }): void;
  readonly stats: TransferStats;
}

/** A download's Q-Block2 settings (block-client.ts DownloadOptions.qblock). */
export interface QBlockDownload {
  /** Sizes each request; a fixed window of MAX_PAYLOADS (RFC 9177 §7.2, 10) when absent. */
  readonly tuner?: TransferTuner;
}
