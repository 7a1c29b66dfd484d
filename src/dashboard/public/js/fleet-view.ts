// Fleet: every node (GET /nodes, observed) with presence, version, health, CPU and memory
// sparklines and tags; filtered and sorted on the page. Only one page of rows is rendered,
// and only those rows observe their node's metrics, so thousands of nodes stay smooth.
import { useMemo, useState } from '../vendor/hooks.mjs';
import type { NodeView } from '@fleet/views.js';
import type { MetricsView } from '@fleet/node-views.js';
import { ago, sortedBy, type SortDirection } from './format.js';
import { html } from './html.js';
import { useObserved } from './live.js';
import { Sparkline } from './sparkline.js';

export const PAGE_ROWS = 25;
/** Samples a sparkline shows. */
const SPARK_SAMPLES = 30;

type SortKey = 'node_id' | 'online' | 'version' | 'health' | 'last_seen';

const COLUMNS: readonly { key: SortKey; label: string }[] = [
  { key: 'node_id', label: 'Node' },
  { key: 'online', label: 'Presence' },
  { key: 'version', label: 'Version' },
  { key: 'health', label: 'Health' },
  { key: 'last_seen', label: 'Last seen' },
];

const sortValue = (key: SortKey) => (node: NodeView): string | number => {
  switch (key) {
    case 'online': return node.online ? 1 : 0;
    case 'health': return node.health?.status ?? '';
    default: return node[key];
  }
};

export function FleetView({ now }: { now: number }) {
  const nodes = useObserved<{ nodes: NodeView[] }>('/nodes');
  const [filter, setFilter] = useState('');
  const [presence, setPresence] = useState<'all' | 'online' | 'offline'>('all');
  const [sort, setSort] = useState<{ key: SortKey; direction: SortDirection }>({ key: 'node_id', direction: 'ascending' });
  const [page, setPage] = useState(0);

  const rows = useMemo(() => {
    const wanted = filter.trim().toLowerCase();
    const list = (nodes.value?.nodes ?? []).filter((node) => (presence === 'all' || node.online === (presence === 'online'))
      && (wanted === '' || matches(node, wanted)));
    return sortedBy(list, sortValue(sort.key), sort.direction);
  }, [nodes.value, filter, presence, sort]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
  const shown = Math.min(page, pages - 1);
  const visible = rows.slice(shown * PAGE_ROWS, (shown + 1) * PAGE_ROWS);
  const online = (nodes.value?.nodes ?? []).filter((node) => node.online).length;

  const sortBy = (key: SortKey) => {
    setSort((current) => ({ key, direction: current.key === key && current.direction === 'ascending' ? 'descending' : 'ascending' }));
  };

  return html`<section aria-labelledby="fleet-title">
    <h1 id="fleet-title">Fleet</h1>
    <p class="summary" aria-live="polite">${nodes.value === undefined ? 'Loading nodes…' : `${nodes.value.nodes.length} nodes, ${online} online; ${rows.length} shown by the filter`}</p>
    ${nodes.error === undefined ? null : html`<p class="error" role="alert">${nodes.error}</p>`}
    <div class="toolbar" role="search">
      <label>Filter <input type="search" value=${filter} placeholder="id, version or tag"
        onInput=${(event: Event) => { setFilter((event.target as HTMLInputElement).value); setPage(0); }} /></label>
      <label>Presence <select value=${presence} onChange=${(event: Event) => { setPresence((event.target as HTMLSelectElement).value as typeof presence); setPage(0); }}>
        <option value="all">all</option><option value="online">online</option><option value="offline">offline</option>
      </select></label>
    </div>
    <div class="table-wrap">
    <table class="fleet">
      <caption class="visually-hidden">Nodes, page ${shown + 1} of ${pages}; column headers sort</caption>
      <thead><tr>
        ${COLUMNS.map(({ key, label }) => html`<th scope="col" class=${`col-${key}`} aria-sort=${sort.key === key ? sort.direction : 'none'}>
          <button type="button" class="sort" onClick=${() => sortBy(key)}>${label}${sort.key === key ? (sort.direction === 'ascending' ? ' ▲' : ' ▼') : ''}</button></th>`)}
        <th scope="col">CPU</th><th scope="col">Memory</th><th scope="col" class="col-tags">Tags</th>
      </tr></thead>
      <tbody>${visible.map((node) => html`<${NodeRow} key=${node.node_id} node=${node} now=${now} />`)}</tbody>
    </table>
    </div>
    <nav class="pager" aria-label="Fleet pages">
      <button type="button" disabled=${shown === 0} onClick=${() => setPage(shown - 1)}>Previous</button>
      <span>Page ${shown + 1} of ${pages}</span>
      <button type="button" disabled=${shown >= pages - 1} onClick=${() => setPage(shown + 1)}>Next</button>
    </nav>
  </section>`;
}

function NodeRow({ node, now }: { node: NodeView; now: number }) {
  const metrics = useObserved<MetricsView>(`/nodes/${encodeURIComponent(node.node_id)}/metrics?limit=${SPARK_SAMPLES}`);
  const samples = metrics.value?.samples ?? [];
  const health = node.health?.status ?? 'unknown';
  return html`<tr>
    <th scope="row" class="col-node_id"><a href=${`#/node/${encodeURIComponent(node.node_id)}`}>${node.node_id}</a></th>
    <td class="col-online"><span class=${`dot ${node.online ? 'online' : 'offline'}`} aria-hidden="true"></span>${node.online ? 'online' : 'offline'}</td>
    <td class="col-version">${node.version}</td>
    <td class="col-health"><span class=${`badge health-${health}`}>${health}</span></td>
    <td class="col-last_seen">${ago(node.last_seen, now)}</td>
    <td><${Sparkline} values=${samples.map((sample) => sample.cpu_percent)} label="CPU" /></td>
    <td><${Sparkline} values=${samples.map((sample) => sample.memory_percent)} label="Memory" /></td>
    <td class="col-tags">${node.tags.map((tag) => html`<span class="tag">${tag}</span>`)}</td>
  </tr>`;
}

const matches = (node: NodeView, wanted: string): boolean =>
  node.node_id.toLowerCase().includes(wanted) || node.version.toLowerCase().includes(wanted)
  || node.tags.some((tag) => tag.toLowerCase().includes(wanted));
