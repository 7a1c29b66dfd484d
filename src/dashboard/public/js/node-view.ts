// One node: its registration and health (observed), metrics charts (observed history),
// services (the actions are signed commands: the page shows the CLI line, since the
// operator's command key stays offline), logs that follow (an observation notified with
// the new entries), its settings, and the rollouts that targeted it.
import { useEffect, useMemo, useState } from '../vendor/hooks.mjs';
import type { NodeView, StatusView, UpdatePage } from '@fleet/views.js';
import type { LogEntry, LogsView, MetricsView, NodeConfigView, ServicesView } from '@fleet/node-views.js';
import { ago, when } from './format.js';
import { html } from './html.js';
import { useFetched, useGateway, useObserved } from './live.js';
import { MetricsChart, type Series } from './metrics-chart.js';
import { Code } from './coap-frame.js';
import { replyJson } from './coap-ws.js';

/** Log lines kept on the page while following. */
export const MAX_LOG_LINES = 500;
/** Rollouts whose per-node state the history reads. */
const HISTORY_UPDATES = 10;

const CPU: readonly Series[] = [{ label: 'CPU', value: (sample) => sample.cpu_percent }, { label: 'memory', value: (sample) => sample.memory_percent }];
const LOAD: readonly Series[] = [{ label: 'load 1 min', value: (sample) => sample.load[0] }, { label: '5 min', value: (sample) => sample.load[1] }];
const TEMPERATURE: readonly Series[] = [{ label: 'temperature', value: (sample) => sample.temperature }];

export function NodePage({ id, now, connected }: { id: string; now: number; connected: boolean }) {
  const path = `/nodes/${encodeURIComponent(id)}`;
  const node = useObserved<NodeView>(path);
  const metrics = useObserved<MetricsView>(`${path}/metrics`);
  const samples = metrics.value?.samples ?? [];
  const view = node.value;
  return html`<section aria-labelledby="node-title">
    <p><a href="#/fleet">← Fleet</a></p>
    <h1 id="node-title">Node ${id}</h1>
    ${node.error === undefined ? null : html`<p class="error" role="alert">${node.error}</p>`}
    ${view === undefined ? html`<p>Loading…</p>` : html`<dl class="facts">
      <div><dt>Presence</dt><dd><span class=${`dot ${view.online ? 'online' : 'offline'}`} aria-hidden="true"></span>${view.online ? 'online' : 'offline'}, seen ${ago(view.last_seen, now)}</dd></div>
      <div><dt>Version</dt><dd>${view.version}</dd></div>
      <div><dt>Hardware</dt><dd>${view.hardware}</dd></div>
      <div><dt>Health</dt><dd><span class=${`badge health-${view.health?.status ?? 'unknown'}`}>${view.health?.status ?? 'unknown'}</span></dd></div>
      <div><dt>Tags</dt><dd>${view.tags.length === 0 ? '—' : view.tags.map((tag) => html`<span class="tag">${tag}</span>`)}</dd></div>
      <div><dt>Registered</dt><dd>${when(view.registered_at)}</dd></div>
    </dl>`}
    <h2>Metrics</h2>
    ${metrics.error === undefined ? null : html`<p class="error">${metrics.error}</p>`}
    <div class="charts">
      <${MetricsChart} title="CPU and memory" samples=${samples} series=${CPU} unit="%" />
      <${MetricsChart} title="Load" samples=${samples} series=${LOAD} unit="" />
      ${samples.some((sample) => sample.temperature !== null) ? html`<${MetricsChart} title="Temperature" samples=${samples} series=${TEMPERATURE} unit="°C" />` : null}
    </div>
    <${Services} id=${id} connected=${connected} />
    <${Logs} id=${id} />
    <${NodeConfig} id=${id} connected=${connected} />
    <${UpdateHistory} id=${id} connected=${connected} />
  </section>`;
}

function Services({ id, connected }: { id: string; connected: boolean }) {
  const services = useFetched<ServicesView>(`/nodes/${encodeURIComponent(id)}/services`, connected);
  const [command, setCommand] = useState<string | undefined>(undefined);
  return html`<section aria-labelledby="services-title">
    <h2 id="services-title">Services <button type="button" class="small" onClick=${services.reload}>Refresh</button></h2>
    ${services.error === undefined ? null : html`<p class="error">${services.error}</p>`}
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">Unit</th><th scope="col">State</th><th scope="col">Since</th><th scope="col">Restarts</th><th scope="col">Actions</th></tr></thead>
      <tbody>${(services.value?.services ?? []).map((service) => html`<tr key=${service.name}>
        <th scope="row">${service.name}<div class="hint">${service.description}</div></th>
        <td><span class=${`badge service-${service.active_state}`}>${service.active_state}</span> ${service.sub_state}</td>
        <td>${when(service.since)}</td><td>${service.restarts ?? '—'}</td>
        <td class="actions">${['start', 'stop', 'restart'].map((action) => html`<button type="button" class="small"
          onClick=${() => setCommand(`coap-fleet node ${id} service ${service.name} ${action}`)}>${action}</button>`)}</td>
      </tr>`)}</tbody>
    </table></div>
    ${command === undefined ? null : html`<p role="status" class="hint">Service actions are commands signed with your command key, which stays on your machine: run <code>${command}</code></p>`}
  </section>`;
}

function Logs({ id }: { id: string }) {
  const client = useGateway();
  const [following, setFollowing] = useState(true);
  const [entries, setEntries] = useState<readonly LogEntry[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (!following) return undefined;
    setEntries([]);
    // A registration's first answer holds the latest lines (again after a reconnection:
    // they replace what the page had); each notification the lines since the last.
    return client.observe(`/nodes/${encodeURIComponent(id)}/logs?lines=100`,
      (reply, first) => {
        const added = replyJson<LogsView>(reply).entries;
        setEntries((previous) => (first ? added : [...previous, ...added]).slice(-MAX_LOG_LINES));
        setError(undefined);
      },
      (failure) => setError(failure.message));
  }, [client, id, following]);
  return html`<section aria-labelledby="logs-title">
    <h2 id="logs-title">Logs <button type="button" class="small" aria-pressed=${following} onClick=${() => setFollowing(!following)}>${following ? 'Stop following' : 'Follow'}</button></h2>
    ${error === undefined ? null : html`<p class="error">${error}</p>`}
    <ol class="logs" role="log" aria-live="polite" aria-label=${`Logs of ${id}`} tabindex="0">
      ${entries.map((entry) => html`<li class=${`priority-${entry.priority}`}><time>${when(entry.at)}</time> <span class="unit">${entry.unit ?? ''}</span> ${entry.message}</li>`)}
    </ol>
  </section>`;
}

function NodeConfig({ id, connected }: { id: string; connected: boolean }) {
  const config = useFetched<NodeConfigView>(`/nodes/${encodeURIComponent(id)}/system/config`, connected);
  const settings = Object.entries(config.value?.settings ?? {});
  return html`<section aria-labelledby="config-title">
    <h2 id="config-title">Settings</h2>
    ${config.error === undefined ? null : html`<p class="error">${config.error}</p>`}
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">Applies</th></tr></thead>
      <tbody>${settings.map(([key, value]) => html`<tr><th scope="row"><code>${key}</code></th><td>${Array.isArray(value) ? value.join(', ') : String(value)}</td>
        <td>${config.value!.live.includes(key) ? 'at once' : 'at next start'}</td></tr>`)}</tbody>
    </table></div>
  </section>`;
}

function UpdateHistory({ id, connected }: { id: string; connected: boolean }) {
  const client = useGateway();
  const updates = useObserved<UpdatePage>('/updates?limit=100');
  const targeting = useMemo(() => (updates.value?.updates ?? []).filter((update) => update.target_nodes.includes(id)).slice(-HISTORY_UPDATES).reverse(), [updates.value, id]);
  const [own, setOwn] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!connected) return undefined;
    let current = true;
    for (const update of targeting) {
      client.request(Code.GET, `/updates/${encodeURIComponent(update.update_id)}/status`).then((reply) => {
        const status = replyJson<StatusView>(reply).nodes[id];
        if (current && status !== undefined) setOwn((previous) => ({ ...previous, [update.update_id]: status.error === null ? status.state : `${status.state}: ${status.error}` }));
      }, () => {});
    }
    return () => { current = false; };
  }, [client, targeting, id, connected]);
  return html`<section aria-labelledby="history-title">
    <h2 id="history-title">Update history</h2>
    ${targeting.length === 0 ? html`<p>No rollout has targeted this node.</p>` : html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">Update</th><th scope="col">Version</th><th scope="col">Rollout</th><th scope="col">This node</th><th scope="col">Created</th></tr></thead>
      <tbody>${targeting.map((update) => html`<tr key=${update.update_id}><th scope="row"><a href=${`#/rollouts/${encodeURIComponent(update.update_id)}`}>${update.update_id}</a></th>
        <td>${update.version}</td><td>${update.rollout}</td><td>${own[update.update_id] ?? '…'}</td><td>${when(update.created_at)}</td></tr>`)}</tbody>
    </table></div>`}
  </section>`;
}
