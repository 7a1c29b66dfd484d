// Rollouts: the list (GET /updates, observed), and one rollout live: its detail with the
// operator's state, counts and waves (GET /updates/{id}, observed), each target's state
// and download progress (GET /updates/{id}/status, observed), pause, resume and cancel
// (PUT state, DELETE: src/operator/rollouts.ts does the same from the CLI).
import { useState } from '../vendor/hooks.mjs';
import type { StatusView, UpdateDetail, UpdatePage } from '@fleet/views.js';
import { Code } from './coap-frame.js';
import { when } from './format.js';
import { html } from './html.js';
import { useGateway, useObserved } from './live.js';

export function RolloutsView() {
  const page = useObserved<UpdatePage>('/updates?limit=100');
  const updates = [...(page.value?.updates ?? [])].reverse();
  return html`<section aria-labelledby="rollouts-title">
    <h1 id="rollouts-title">Rollouts</h1>
    ${page.error === undefined ? null : html`<p class="error" role="alert">${page.error}</p>`}
    ${page.value === undefined ? html`<p>Loading…</p>` : updates.length === 0 ? html`<p>No rollout yet: publish one with <code>coap-fleet publish</code>.</p>` : html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">Update</th><th scope="col">Version</th><th scope="col">State</th><th scope="col">Targets</th><th scope="col">Image</th><th scope="col">Created</th></tr></thead>
      <tbody>${updates.map((update) => html`<tr key=${update.update_id}>
        <th scope="row"><a href=${`#/rollouts/${encodeURIComponent(update.update_id)}`}>${update.update_id}</a></th>
        <td>${update.version}</td><td><span class=${`badge rollout-${update.rollout}`}>${update.rollout}</span></td>
        <td>${update.target_nodes.length}</td><td>${update.image_ready ? 'uploaded' : 'waiting for upload'}</td><td>${when(update.created_at)}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </section>`;
}

export function RolloutPage({ id }: { id: string }) {
  const client = useGateway();
  const path = `/updates/${encodeURIComponent(id)}`;
  const detail = useObserved<UpdateDetail>(path);
  const status = useObserved<StatusView>(`${path}/status`);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const view = detail.value;
  const finished = view !== undefined && ['completed', 'cancelled', 'aborted'].includes(view.rollout);
  const move = async (method: number, body?: unknown) => {
    setBusy(true);
    setProblem(undefined);
    try {
      await client.request(method, path, body);
    } catch (failure) {
      setProblem((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => {
    if (window.confirm(`Cancel rollout ${id}? Nodes that have not installed it will not.`)) void move(Code.DELETE);
  };
  const nodes = Object.entries(status.value?.nodes ?? {});
  const done = view === undefined ? 0 : view.counts.installed;
  const share = view === undefined || view.targets === 0 ? 0 : Math.round((done / view.targets) * 100);
  return html`<section aria-labelledby="rollout-title">
    <p><a href="#/rollouts">← Rollouts</a></p>
    <h1 id="rollout-title">Rollout ${id}</h1>
    ${detail.error === undefined ? null : html`<p class="error" role="alert">${detail.error}</p>`}
    ${view === undefined ? html`<p>Loading…</p>` : html`
      <dl class="facts">
        <div><dt>Version</dt><dd>${view.version}</dd></div>
        <div><dt>State</dt><dd><span class=${`badge rollout-${view.rollout}`} data-testid="rollout-state">${view.rollout}</span> (operator: ${view.operator_state})</dd></div>
        <div><dt>Created</dt><dd>${when(view.created_at)} by ${view.created_by}</dd></div>
        <div><dt>Policy</dt><dd>canary ${view.policy.canary}, ${view.policy.max_parallel_installs} at once, abort at ${view.policy.failure_threshold} failures</dd></div>
      </dl>
      <div class="progress-line">
        <label for="rollout-progress">Installed</label>
        <progress id="rollout-progress" max="100" value=${share}>${share} %</progress>
        <output for="rollout-progress" aria-live="polite" data-testid="rollout-percent">${share} % (${done} of ${view.targets})</output>
      </div>
      <p class="counts">${Object.entries(view.counts).filter(([, count]) => count > 0).map(([state, count]) => html`<span class=${`badge state-${state}`}>${state} ${count}</span> `)}</p>
      ${view.health_breach === undefined ? null : html`<p class="error" role="alert">Health gate: ${JSON.stringify(view.health_breach)}</p>`}
      <div class="toolbar">
        ${view.operator_state === 'paused'
          ? html`<button type="button" disabled=${busy || finished} onClick=${() => move(Code.PUT, { state: 'active' })}>Resume</button>`
          : html`<button type="button" disabled=${busy || finished} onClick=${() => move(Code.PUT, { state: 'paused' })}>Pause</button>`}
        <button type="button" class="danger" disabled=${busy || finished} onClick=${cancel}>Cancel rollout</button>
      </div>
      ${problem === undefined ? null : html`<p class="error" role="alert">${problem}</p>`}
      ${view.waves === undefined ? null : html`<h2>Waves</h2><div class="table-wrap"><table>
        <thead><tr><th scope="col">Wave</th><th scope="col">Targets</th><th scope="col">Installed</th><th scope="col">Failed</th><th scope="col">State</th><th scope="col">Baking until</th></tr></thead>
        <tbody>${view.waves.map((wave) => html`<tr key=${wave.wave}><th scope="row">${wave.wave}</th><td>${wave.targets}</td><td>${wave.installed}</td><td>${wave.failed}</td>
          <td><span class=${`badge wave-${wave.state}`}>${wave.state}</span></td><td>${when(wave.bake_until)}</td></tr>`)}</tbody>
      </table></div>`}`}
    <h2>Nodes</h2>
    ${status.error === undefined ? null : html`<p class="error">${status.error}</p>`}
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">Node</th><th scope="col">State</th><th scope="col">Download</th><th scope="col">Updated</th><th scope="col">Error</th></tr></thead>
      <tbody>${nodes.map(([node, entry]) => html`<tr key=${node}>
        <th scope="row"><a href=${`#/node/${encodeURIComponent(node)}`}>${node}</a></th>
        <td><span class=${`badge state-${entry.state}`}>${entry.state}</span></td>
        <td><progress max="100" value=${Math.round(entry.progress * 100)} aria-label=${`${node} download`}></progress> ${Math.round(entry.progress * 100)} %</td>
        <td>${when(entry.updated_at)}</td><td>${entry.error ?? ''}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`;
}
