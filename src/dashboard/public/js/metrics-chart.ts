// A node's metrics over time, drawn by uPlot. uPlot (about 145 KB) loads on the first
// chart only, so the Fleet view's cold load does not carry it.
import { useEffect, useRef } from '../vendor/hooks.mjs';
import type { MetricsSample } from '@fleet/node-views.js';
import { html } from './html.js';

type UPlotModule = typeof import('../vendor/uplot.mjs');
let uplot: Promise<UPlotModule> | undefined;
const loadUPlot = (): Promise<UPlotModule> => (uplot ??= import('../vendor/uplot.mjs'));

export interface Series {
  readonly label: string;
  readonly value: (sample: MetricsSample) => number | null;
}

export function MetricsChart({ title, samples, series, unit }: { title: string; samples: readonly MetricsSample[]; series: readonly Series[]; unit: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null || samples.length === 0) return undefined;
    let plot: { destroy(): void } | undefined;
    let current = true;
    void loadUPlot().then(({ default: UPlot }) => {
      if (!current) return;
      const data = [samples.map((sample) => Date.parse(sample.at) / 1000), ...series.map((line) => samples.map(line.value))];
      const width = Math.max(280, Math.min(element.clientWidth, 900));
      plot = new UPlot({
        width, height: 180,
        series: [{}, ...series.map((line, index) => ({ label: line.label, stroke: STROKES[index % STROKES.length]!, width: 1.5, value: (_: unknown, v: number | null) => (v === null ? '—' : withUnit(v, unit)) }))],
        axes: [{}, { label: unit, size: 50 }],
        scales: unit === '%' ? { y: { range: [0, 100] } } : {},
      }, data as never, element);
    });
    return () => { current = false; plot?.destroy(); };
  }, [samples, series, unit]);
  const latest = samples.at(-1);
  return html`<figure class="chart">
    <figcaption>${title}${latest === undefined ? ': no samples yet' : `: ${series.map((line) => `${line.label} ${withUnit(line.value(latest), unit)}`).join(', ')}`}</figcaption>
    <div ref=${box} aria-hidden="true"></div>
  </figure>`;
}

const STROKES = ['#2563eb', '#dc2626', '#059669', '#d97706'];

const withUnit = (value: number | null, unit: string): string => (value === null ? '—' : unit === '' ? value.toFixed(2) : `${value.toFixed(1)} ${unit}`);
