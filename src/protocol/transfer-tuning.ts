// A TransferTuner (transfer-tuner.ts) that learns the link from the windows of a Q-Block2
// download (RFC 9177). The burst window is AIMD, as TCP's congestion window (RFC 5681
// §3.1): doubled per whole window until the first loss, then one block more per window,
// and cut in proportion to the blocks lost when a window loses more than the link usually
// does (its smoothed loss, plus the binomial noise of a window that size): loss above the
// usual is what a queue overflowing looks like, while a radio link's steady random loss
// (20 % here) is no reason to send less; cutting for it, as TCP does, settles near
// 2(1 - p)/p blocks and makes every request's own loss count more. A window with nothing
// in it lost its request (or its whole burst): one loss event, which moves neither the
// window nor the loss figure (the client backs off its wait for the next), and counts as
// one datagram lost against the block size. The block size (RFC 7959 §2.2 SZX) is probed: while the loss at
// the current size stays high, the smallest size is tried, and kept only if it loses
// clearly less (on constrained links a large datagram is fragmented and lost first, RFC
// 7252 §4.6; a loss that does not depend on the size is not helped by smaller blocks, only
// slowed); below the largest size a step up is tried, and given up only if it loses
// clearly more, so the size climbs back to the largest the link carries whole. "Clearly":
// by half (or double) and beyond the standard errors of the blocks counted at each size
// (probeVerdict), so the noise of a few small windows decides nothing. A probe that
// failed waits twice as long before it is tried again. No clock, no I/O: the client
// feeds it samples; every figure stays finite and in bounds.

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
  /** Loss at the current block size above which smaller sizes are tried; a larger size
   * is kept at up to this loss whatever the smaller one lost. */
  readonly highLoss: number;
  /** A tuner started from figures with a loss below this starts by doubling its window
   * (slow start); with more, the link is known to lose. */
  readonly lowLoss: number;
  /** Windows, and blocks asked for, at a block size before its loss is judged. */
  readonly settleWindows: number;
  readonly probeBlocks: number;
}

/** 8 blocks of 1024 bytes to start; 1..64 blocks of 64..1024 bytes. Smaller blocks are
 * tried above 40 % loss: a 20 % random-loss link with some jitter measured above 30 % at
 * times (late blocks count as lost in their window), and a probe of 64-byte blocks that
 * happened to lose less was kept: 16 datagrams per KiB (transfer-lossy, one run in three). */
export const DEFAULT_TUNING: TransferTuningOptions = {
  minSizeExponent: 2, maxSizeExponent: MAX_SIZE_EXPONENT, initialSizeExponent: MAX_SIZE_EXPONENT,
  minWindow: 1, maxWindow: 64, initialWindow: 8,
  highLoss: 0.4, lowLoss: 0.05, settleWindows: 4, probeBlocks: 64,
};

/** Weights of a new sample in the smoothed figures: RFC 6298 §2's 1/8 for the RTT, 1/4
 * for the loss the stats report. */
const RTT_GAIN = 1 / 8;
const LOSS_GAIN = 1 / 4;
/** A window's loss within this of the usual is the link's own, not a queue's (lossNoise). */
const MIN_LOSS_NOISE = 0.05;
/** A probe is judged on this many blocks at least. */
const MIN_JUDGED_BLOCKS = 16;
/** The blocks counted per size are halved past this, so the count follows the link. */
const MAX_COUNTED_BLOCKS = 512;
/** A failed probe waits probeBlocks x 2^failures blocks (what it cost, doubled each
 * time), failures counted up to this. */
const MAX_BACKOFF_DOUBLINGS = 6;

export type Direction = 'down' | 'up';

/** Blocks asked for and lost at one block size. */
export interface Counts {
  asked: number;
  lost: number;
}

export class AdaptiveTransferTuner implements TransferTuner {
  readonly #options: TransferTuningOptions;
  #sizeExponent: number;
  /** The window as a real number, so increments of less than a block add up; next()
   * gives its whole part. Always within [minWindow, maxWindow]. */
  #window: number;
  #rttMs: number | undefined;
  /** The link's smoothed loss over all block sizes: what the stats report. */
  #loss: number;
  /** Per size exponent (seven at most), the blocks counted while the tuner used it;
   * reset when a probe moves to it. */
  readonly #counts = new Map<number, Counts>();
  /** Doubling the window until the first loss (slow start, RFC 5681 §3.1). */
  #slowStart = true;
  /** Windows observed since the block size last changed. */
  #sinceResize = 0;
  /** The size change being tried, and the size it left. */
  #probe: { readonly direction: Direction; readonly from: number } | undefined;
  /** Failed probes in a row per direction, and how many blocks to wait before the next. */
  readonly #failures: Record<Direction, number> = { down: 0, up: 0 };
  readonly #holdFor: Record<Direction, number> = { down: 0, up: 0 };

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
    return { sizeExponent: this.#sizeExponent, window: Math.floor(this.#window) };
  }

  observe(sample: WindowSample & { readonly rttMs?: number }): void {
    const asked = Math.floor(sample.asked);
    // Nothing asked says nothing of the link.
    if (!(Number.isFinite(asked) && asked > 0)) return;
    const received = Number.isFinite(sample.received) ? clamp(Math.floor(sample.received), 0, asked) : 0;
    if (sample.rttMs !== undefined && isFiniteNonNegative(sample.rttMs)) {
      this.#rttMs = this.#rttMs === undefined ? sample.rttMs : smooth(this.#rttMs, sample.rttMs, RTT_GAIN);
    }
    // A window with nothing in it is, for the block size too, one datagram lost (most
    // likely its request): counted whole, the requests a random-loss link loses would
    // read as blocks lost and send the size down for nothing. A link that loses large
    // datagrams still shows it, in the windows that bring anything and in a run of
    // empty ones. While a size is being tried, an empty window counts whole: the size
    // just changed, and what changed with it is the likelier cause.
    if (received === 0 && this.#probe === undefined) this.#count(1, 1);
    else this.#count(asked, asked - received);
    for (const direction of ['down', 'up'] as const) this.#holdFor[direction] = Math.max(0, this.#holdFor[direction] - asked);
    const lost = (asked - received) / asked;
    const usual = this.#loss;
    if (received === 0) {
      this.#slowStart = false;
    } else if (lost === 0) {
      this.#window = this.#boundedWindow(this.#slowStart ? this.#window * 2 : this.#window + 1);
    } else if (lost <= usual + lossNoise(usual, asked)) {
      this.#slowStart = false;
      this.#window = this.#boundedWindow(this.#window + 1);
    } else {
      this.#slowStart = false;
      this.#window = this.#boundedWindow(this.#window + (1 - lost) - (lost * this.#window) / 2);
    }
    if (received > 0) this.#loss = clamp(smooth(this.#loss, lost, LOSS_GAIN), 0, 1);
    this.#resize();
  }

  get stats(): TransferStats {
    return { blockSize: blockSize(this.#sizeExponent), window: Math.floor(this.#window), rttMs: this.#rttMs, loss: this.#loss };
  }

  #count(asked: number, lost: number): void {
    const counts = this.#counts.get(this.#sizeExponent) ?? { asked: 0, lost: 0 };
    counts.asked += asked;
    counts.lost += lost;
    if (counts.asked > MAX_COUNTED_BLOCKS) {
      counts.asked /= 2;
      counts.lost /= 2;
    }
    this.#counts.set(this.#sizeExponent, counts);
  }

  /** Judges the probe under way as soon as its blocks tell (within probeBlocks), or
   * starts one once the current size has been seen for settleWindows windows and enough
   * blocks. */
  #resize(): void {
    const { highLoss, settleWindows, probeBlocks, minSizeExponent, maxSizeExponent } = this.#options;
    const here = this.#counts.get(this.#sizeExponent) ?? { asked: 0, lost: 0 };
    if (++this.#sinceResize < settleWindows) return;
    const probe = this.#probe;
    if (probe !== undefined) {
      const verdict = probeVerdict(probe.direction, here, this.#counts.get(probe.from) ?? { asked: 0, lost: 0 }, highLoss, probeBlocks);
      if (verdict === 'wait') return;
      this.#probe = undefined;
      if (verdict === 'keep') {
        this.#failures[probe.direction] = 0;
      } else {
        const failures = Math.min(++this.#failures[probe.direction], MAX_BACKOFF_DOUBLINGS);
        this.#holdFor[probe.direction] = probeBlocks * 2 ** failures;
        this.#setSize(probe.from);
        return;
      }
    }
    if (here.asked < probeBlocks / 2) return;
    // Down on a full probeBlocks of evidence: a short count that errs high would start a
    // probe and be the yardstick it is judged by.
    if (rate(here) > highLoss && here.asked >= probeBlocks && this.#sizeExponent > minSizeExponent && this.#holdFor.down === 0) {
      // The smallest size at once: if even that is lost as much, the size is not the
      // cause; if not, the steps up find the largest that gets through.
      this.#probe = { direction: 'down', from: this.#sizeExponent };
      this.#setSize(minSizeExponent);
    } else if (this.#sizeExponent < maxSizeExponent && this.#holdFor.up === 0) {
      this.#probe = { direction: 'up', from: this.#sizeExponent };
      this.#setSize(this.#sizeExponent + 1);
      // Half as many blocks of twice the size: the bytes in flight stay about the same.
      this.#window = this.#boundedWindow(this.#window / 2);
    }
  }

  /** A new block size; a probe counts its blocks afresh. */
  #setSize(exponent: number): void {
    if (this.#probe !== undefined) this.#counts.delete(exponent);
    this.#sizeExponent = exponent;
    this.#sinceResize = 0;
  }

  #boundedWindow(window: number): number {
    return Number.isFinite(window) ? clamp(window, this.#options.minWindow, this.#options.maxWindow) : this.#options.initialWindow;
  }

  #boundedExponent(exponent: number): number {
    return clamp(exponent, this.#options.minSizeExponent, this.#options.maxSizeExponent);
  }
}

// ---- pure ---------------------------------------------------------------------------

/** How far above the usual loss `p` a window of `asked` blocks may lose by chance: two
 * standard deviations of the binomial, and never under MIN_LOSS_NOISE. */
export function lossNoise(p: number, asked: number): number {
  return Math.max(MIN_LOSS_NOISE, 2 * Math.sqrt((p * (1 - p)) / asked));
}

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
  if (!integer(options.settleWindows, 1, 1 << 20) || !integer(options.probeBlocks, 1, 1 << 20)) throw new RangeError('settleWindows, probeBlocks: positive integers');
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

const rate = (counts: Counts): number => (counts.asked > 0 ? counts.lost / counts.asked : 0);

/** The standard error of the difference of two loss rates (pooled, as in a two-proportion
 * z-test); the pooled rate is kept off 0 and 1, so that no loss seen is not certainty. */
function standardError(a: Counts, b: Counts): number {
  const pooled = clamp((a.lost + b.lost) / Math.max(1, a.asked + b.asked), 0.01, 0.99);
  return Math.sqrt(pooled * (1 - pooled) * (1 / Math.max(1, a.asked) + 1 / Math.max(1, b.asked)));
}

/** What the blocks counted at a probe's size (`here`) and at the size it left say. A step
 * down is given up as soon as two standard errors say it will not lose less than half as
 * much, and kept only on the full probeBlocks, if it does, three standard errors below
 * the size left (the probe began because that size looked bad, so its count errs high;
 * and looking again after every window would find a lucky run). A step up is given up
 * as soon as it loses more than twice as much and more than highLoss, by three standard
 * errors, and kept when two say it will not, or at probeBlocks. Nothing is decided on
 * fewer than MIN_JUDGED_BLOCKS. */
export function probeVerdict(direction: Direction, here: Counts, left: Counts, highLoss: number, probeBlocks: number): 'keep' | 'revert' | 'wait' {
  if (here.asked < MIN_JUDGED_BLOCKS) return 'wait';
  const error = standardError(here, left);
  const spent = here.asked >= probeBlocks;
  if (direction === 'down') {
    const target = rate(left) / 2;
    if (rate(here) - 2 * error > target) return 'revert';
    if (!spent) return 'wait';
    return rate(here) < target && rate(here) + 3 * error < rate(left) ? 'keep' : 'revert';
  }
  const limit = Math.max(highLoss, 2 * rate(left));
  if (rate(here) > limit && rate(here) - 3 * error > rate(left)) return 'revert';
  return rate(here) + 2 * error < limit || spent ? 'keep' : 'wait';
}

const smooth = (current: number, sample: number, gain: number): number => current + gain * (sample - current);
const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));
const isFiniteNonNegative = (value: number): boolean => Number.isFinite(value) && value >= 0;
