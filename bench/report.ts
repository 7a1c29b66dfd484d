// The one reporter every benchmark writes to: rows of {bench, impl, metric, value},
// printed as an aligned table with an "ours / peer" ratio, or as JSON lines for tooling.

/** The `impl` name our own stack reports under; every other impl is a peer. */
export const OURS = 'coap-fleet';

export interface Row {
  readonly bench: string;
  readonly impl: string;
  readonly metric: string;
  readonly value: number;
}

export class Report {
  readonly #rows: Row[] = [];

  add(bench: string, impl: string, metric: string, value: number): void {
    this.#rows.push({ bench, impl, metric, value });
  }

  get rows(): readonly Row[] {
    return this.#rows;
  }

  /** One `{"bench","impl","metric","value"}` object per line, in the order added. */
  toJsonLines(): string {
    return this.#rows
      .map(({ bench, impl, metric, value }) => `${JSON.stringify({ bench, impl, metric, value })}\n`)
      .join('');
  }

  /** Rows grouped by bench and metric, ours first; a peer's row carries ours / peer. */
  toTable(): string {
    const header = ['bench', 'metric', 'impl', 'value', 'ours / peer'];
    const lines: string[][] = [header];
    for (const group of this.#groups()) {
      const ours = group.find((row) => row.impl === OURS);
      for (const row of [...group].sort((a, b) => Number(b.impl === OURS) - Number(a.impl === OURS))) {
        // A ratio is only meaningful between ours and a peer measured on the same metric.
        // A missing figure (NaN: a run that timed out) has no ratio either.
        const ratio = ours !== undefined && row.impl !== OURS && row.value > 0 && Number.isFinite(ours.value / row.value)
          ? `${(ours.value / row.value).toFixed(2)}x` : '';
        lines.push([row.bench, row.metric, row.impl, formatValue(row.value), ratio]);
      }
    }
    const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
    // Text columns align left, numbers right.
    const rightAligned = new Set([3, 4]);
    const render = (line: string[]): string => line
      .map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
    const rule = widths.map((width) => '-'.repeat(width)).join('  ');
    return `${[render(header), rule, ...lines.slice(1).map(render)].join('\n')}\n`;
  }

  /** Table or JSON lines, as `--json` in argv asks. */
  print(json: boolean, out: NodeJS.WritableStream = process.stdout): void {
    out.write(json ? this.toJsonLines() : this.toTable());
  }

  #groups(): Row[][] {
    const groups = new Map<string, Row[]>();
    for (const row of this.#rows) {
      const key = `${row.bench}\u0000${row.metric}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [row]);
      else group.push(row);
    }
    return [...groups.values()];
  }
}

function formatValue(value: number): string {
  if (Number.isInteger(value) || Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}
