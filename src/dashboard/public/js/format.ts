// Formatting for the views: pure functions of their arguments.

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago"; `now` in epoch ms. */
export function ago(at: string | null | undefined, now: number): string {
  if (at === null || at === undefined) return '—';
  const seconds = Math.max(0, Math.round((now - Date.parse(at)) / 1000));
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export const percent = (value: number | null | undefined): string => (value === null || value === undefined ? '—' : `${Math.round(value)} %`);

/** "2026-12-07 03:04:05" in UTC, for tables. */
export const when = (at: string | null | undefined): string => (at === null || at === undefined ? '—' : at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''));

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}

/** The points of an SVG polyline drawing `values` (0..100) in a width x height box, a
 * pixel in from the top and bottom so that the stroke at 0 % and 100 % shows whole. */
export function sparkPoints(values: readonly number[], width: number, height: number): string {
  if (values.length === 0) return '';
  const step = values.length === 1 ? 0 : width / (values.length - 1);
  return values
    .map((value, index) => `${(index * step).toFixed(1)},${(height - 1 - (Math.min(100, Math.max(0, value)) / 100) * (height - 2)).toFixed(1)}`)
    .join(' ');
}

export type SortDirection = 'ascending' | 'descending';

/** Sorts a copy by `key`'s text or number; ties keep their order. */
export function sortedBy<T>(rows: readonly T[], key: (row: T) => string | number, direction: SortDirection): T[] {
  const sign = direction === 'ascending' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    if (typeof x === 'number' && typeof y === 'number') return (x - y) * sign;
    return String(x).localeCompare(String(y), undefined, { numeric: true }) * sign;
  });
}
