// A TransferTuner (transfer-tuner.ts) that learns the link from the windows of a Q-Block2
// download (RFC 9177): the burst window grows while windows arrive whole and is halved on
// loss (AIMD, as TCP's congestion avoidance, RFC 5681 §3.1), and the block size (RFC 7959
// §2.2 SZX) steps down while the smoothed loss stays high and back up when it falls, since
// on constrained links a large datagram is fragmented and lost first (RFC 7252 §4.6).
// No clock, no I/O: the client feeds it samples; every figure stays finite and in bounds.

import { blockSize, MAX_SIZE_EXPONENT, sizeExponentFor } from './block.js';
import type { TransferStats, TransferTuner, WindowSample } from './transfer-tuner.js';

export interface TransferTuningOptions {
  /** Block size exponents (SZX, 0..6: 16..1024 bytes) the tuner moves between. */
  readonly minSizeExponent: number;
  readonly maxSizeExponent: number;
  readonly initialSizeExponent: number;
  /** Blocks per request, 1 at least. */
  readonly minWindow: number;
  readonly maxWindow: number;
  readonly initialWindow: number;
  /** Smoothed loss above which the block size steps down, and below which it steps up. */
  readonly highLoss: number;
  readonly lowLoss: number;
  /** Windows observed after a block size change before the next one: the smoothed loss
   * needs that long to show what the new size does. */
  readonly settleWindows: number;
}

/** 8 blocks of 1024 bytes to start; 1..64 blocks of 64..1024 bytes. */
export const DEFAULT_TUNING: TransferTuningOptions = {
  minSizeExponent: 2, maxSizeExponent: MAX_SIZE_EXPONENT, initialSizeExponent: MAX_SIZE_EXPONENT,
  minWindow: 1, maxWindow: 64, initialWindow: 8,
  highLoss: 0.2, lowLoss: 0.05, settleWindows: 4,
};

/** Weights of a new sample in the smoothed figures: RFC 6298 §2's 1/8 for the RTT; loss
 * moves faster (1/4), since it decides the block size. */
const RTT_GAIN = 1 / 8;
const LOSS_GAIN = 1 / 4;

export class AdaptiveTransferTuner implements TransferTuner {
  readonly #options: TransferTuningOptions;
  #sizeExponent: number;
  #window: number;
  #rttMs: number | undefined;
  #loss: number;
  /** Doubling the window until the first loss (slow start, RFC 5681 §3.1), then +1. */
  #slowStart = true;
  #sinceResize = 0;

  /** `start`: the last download's figures (a new download on the same link starts where
   * that one ended), taken within this tuner's bounds. */
  constructor(options: Partial<TransferTuningOptions> = {}, start?: TransferStats) {
    this.#options = checkedOptions({ ...DEFAULT_TUNING, ...options });
    const { initialSizeExponent, initialWindow } = this.#options;
    this.#sizeExponent = start === undefined ? initialSizeExponent : this.#boundedExponent(startExponent(start.blockSize, initialSizeExponent));
    this.#window = this.#boundedWindow(start?.window ?? initialWindow);
    this.#rttMs = start?.rttMs !== undefined && isFiniteNonNegative(start.rttMs) ? start.rttMs : undefined;
    this.#loss = start !== undefined && Number.isFinite(start.loss) ? clamp(start.loss, 0, 1) : 0;
    // A link already known to lose does not start by doubling.
    if (start !== undefined) this.#slowStart = this.#loss < this.#options.lowLoss;
  }

  next(): { readonly sizeExponent: number; readonly window: number } {
    return { sizeExponent: this.#sizeExponent, window: this.#window };
  }

  observe(sample: WindowSample & { readonly rttMs?: number }): void {
    const asked = Math.floor(sample.asked);
    // Nothing asked says nothing of the link.
    if (!(Number.isFinite(asked) && asked > 0)) return;
    const received = Number.isFinite(sample.received) ? clamp(Math.floor(sample.received), 0, asked) : 0;
    if (sample.rttMs !== undefined && isFiniteNonNegative(sample.rttMs)) {
      this.#rttMs = this.#rttMs === undefined ? sample.rttMs : smooth(this.#rttMs, sample.rttMs, RTT_GAIN);
    }
    this.#loss = clamp(smooth(this.#loss, (asked - received) / asked, LOSS_GAIN), 0, 1);

    if (received === asked) {
      this.#window = this.#boundedWindow(this.#slowStart ? this.#window * 2 : this.#window + 1);
    } else {
      this.#slowStart = false;
      this.#window = this.#boundedWindow(Math.ceil(this.#window / 2));
    }
    this.#resize();
  }

  get stats(): TransferStats {
    return { blockSize: blockSize(this.#sizeExponent), window: this.#window, rttMs: this.#rttMs, loss: this.#loss };
  }

  /** One step of block size at most per settleWindows windows. Up, the window is halved
   * so the bytes in flight stay about the same on a link that just stopped losing. */
  #resize(): void {
    const { highLoss, lowLoss, settleWindows, minSizeExponent, maxSizeExponent } = this.#options;
    if (++this.#sinceResize < settleWindows) return;
    if (this.#loss > highLoss && this.#sizeExponent > minSizeExponent) {
      this.#sizeExponent--;
      this.#sinceResize = 0;
    } else if (this.#loss < lowLoss && this.#sizeExponent < maxSizeExponent) {
      this.#sizeExponent++;
      this.#window = this.#boundedWindow(Math.floor(this.#window / 2));
      this.#sinceResize = 0;
    }
  }

  #boundedWindow(window: number): number {
    return Number.isFinite(window) ? clamp(Math.round(window), this.#options.minWindow, this.#options.maxWindow) : this.#options.initialWindow;
  }

  #boundedExponent(exponent: number): number {
    return clamp(exponent, this.#options.minSizeExponent, this.#options.maxSizeExponent);
  }
}

// ---- pure ---------------------------------------------------------------------------

/** Options with their bounds in order; a RangeError names the first that is not. */
export function checkedOptions(options: TransferTuningOptions): TransferTuningOptions {
  const integer = (value: number, min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max;
  const { minSizeExponent: minSize, maxSizeExponent: maxSize, initialSizeExponent: size, minWindow, maxWindow, initialWindow } = options;
  if (!integer(minSize, 0, MAX_SIZE_EXPONENT) || !integer(maxSize, minSize, MAX_SIZE_EXPONENT) || !integer(size, minSize, maxSize)) {
    throw new RangeError(`size exponents: 0 <= min <= initial <= max <= ${MAX_SIZE_EXPONENT}`);
  }
  if (!integer(minWindow, 1, 1 << 20) || !integer(maxWindow, minWindow, 1 << 20) || !integer(initialWindow, minWindow, maxWindow)) {
    throw new RangeError('windows: 1 <= min <= initial <= max');
  }
  if (!(options.lowLoss >= 0 && options.lowLoss <= options.highLoss && options.highLoss <= 1)) throw new RangeError('loss thresholds: 0 <= low <= high <= 1');
  if (!integer(options.settleWindows, 1, 1 << 20)) throw new RangeError('settleWindows: a positive integer');
  return options;
}

/** The exponent of a remembered block size; `fallback` for one that is not a valid size. */
function startExponent(size: number, fallback: number): number {
  try {
    return sizeExponentFor(size);
  } catch {
    return fallback;
  }
}

const smooth = (current: number, sample: number, gain: number): number => current + gain * (sample - current);
const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));
const isFiniteNonNegative = (value: number): boolean => Number.isFinite(value) && value >= 0;
