// A block-wise transfer's progress for a person watching stderr: bytes so far, of the
// total when the peer announced it (Size1/Size2, RFC 7959 §4), percent and rate. Drawn
// only on a terminal, so pipes, scripts and tests get clean output.

import type { OutputStream } from './output.js';

export interface Progress {
  /** `done` bytes of `total` (undefined while unknown) have gone through. */
  update(done: number, total: number | undefined): void;
  /** Draws the last state and ends the line; once, whether the transfer worked or not. */
  finish(): void;
}

export interface ProgressOptions {
  /** Milliseconds; a parameter so a test can step it. */
  readonly now?: () => number;
  /** Redraw at most this often; the terminal is slower than a loopback transfer. */
  readonly intervalMs?: number;
}

const BAR_WIDTH = 24;
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1536 → "1.5 KiB"; bytes stay whole. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

const silent: Progress = { update: () => {}, finish: () => {} };

/** A one-line progress bar on `stream`, redrawn in place; nothing unless it is a TTY. */
export function progressBar(stream: OutputStream, label: string, options: ProgressOptions = {}): Progress {
  if (stream.isTTY !== true) return silent;
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 100;
  const startedAt = now();
  let drawnAt: number | undefined;
  let state: { done: number; total: number | undefined } | undefined;
  let finished = false;

  const line = (done: number, total: number | undefined): string => {
    const seconds = (now() - startedAt) / 1000;
    const rate = seconds > 0.05 ? `${formatBytes(Math.round(done / seconds))}/s` : '-';
    if (total === undefined || total <= 0) return fit([label, formatBytes(done), rate]);
    const fraction = Math.min(1, done / total);
    const figures = [`${formatBytes(done)} / ${formatBytes(total)}`, `${Math.floor(fraction * 100)}%`.padStart(4), rate];
    // The bar takes what the terminal has left, up to its full width; none below a few cells.
    const spare = stream.columns === undefined ? BAR_WIDTH : stream.columns - 1 - [label, ...figures].join('  ').length - 4;
    const width = Math.min(BAR_WIDTH, spare);
    if (width < 5) return fit([label, ...figures]);
    const filled = Math.round(fraction * width);
    return fit([label, `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, ...figures]);
  };
  // A line as wide as the terminal wraps, and "\r" then only returns to its last row.
  const fit = (parts: readonly string[]): string => {
    const text = parts.join('  ');
    return stream.columns !== undefined && text.length >= stream.columns ? text.slice(0, stream.columns - 1) : text;
  };
  const draw = (): void => {
    if (state === undefined) return;
    drawnAt = now();
    stream.write(`\r${line(state.done, state.total)}\u001b[K`);
  };

  return {
    update(done, total) {
      if (finished) return;
      state = { done, total };
      if (drawnAt === undefined || now() - drawnAt >= intervalMs) draw();
    },
    finish() {
      if (finished) return;
      finished = true;
      if (state === undefined) return;
      draw();
      stream.write('\n');
    },
  };
}
