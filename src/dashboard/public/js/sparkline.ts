// A tiny inline SVG line of percentages (CPU, memory) for a table row: no chart library
// per row, so a page of the fleet stays cheap to render.
import { html } from './html.js';
import { sparkPoints } from './format.js';

const WIDTH = 80;
const HEIGHT = 20;

export function Sparkline({ values, label }: { values: readonly number[]; label: string }) {
  const latest = values.at(-1);
  return html`<span class="spark">
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width=${WIDTH} height=${HEIGHT} role="img" aria-label=${`${label}: ${values.length} samples, latest ${latest === undefined ? 'none' : `${Math.round(latest)} %`}`}>
      <polyline points=${sparkPoints(values, WIDTH, HEIGHT)} />
    </svg>
    <span class="spark-value">${latest === undefined ? '—' : `${Math.round(latest)} %`}</span>
  </span>`;
}
