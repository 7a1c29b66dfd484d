// Alerts, live (GET /alerts observed; `?state=all` adds the cleared ones kept), each
// acknowledged with PUT /alerts/{id} {"acknowledged": true} (the gateway records who).
import { useState } from '../vendor/hooks.mjs';
import type { AlertView } from '@fleet/views.js';
import { Code } from './coap-frame.js';
import { ago, when } from './format.js';
import { html } from './html.js';
import { useGateway, useObserved } from './live.js';

export function AlertsView({ now }: { now: number }) {
  const client = useGateway();
  const [all, setAll] = useState(false);
  const alerts = useObserved<{ alerts: AlertView[] }>(all ? '/alerts?state=all' : '/alerts');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  // An acknowledgement the observation has not shown yet.
  const [acknowledged, setAcknowledged] = useState<Record<string, string>>({});
  const acknowledge = async (alert: AlertView) => {
    setProblem(undefined);
    try {
      await client.request(Code.PUT, `/alerts/${encodeURIComponent(alert.id)}`, { acknowledged: true });
      setAcknowledged((previous) => ({ ...previous, [alert.id]: 'you' }));
    } catch (failure) {
      setProblem((failure as Error).message);
    }
  };
  const list = alerts.value?.alerts ?? [];
  return html`<section aria-labelledby="alerts-title">
    <h1 id="alerts-title">Alerts</h1>
    <div class="toolbar"><label><input type="checkbox" checked=${all} onChange=${() => setAll(!all)} /> Show cleared alerts too</label></div>
    ${alerts.error === undefined ? null : html`<p class="error" role="alert">${alerts.error}</p>`}
    ${problem === undefined ? null : html`<p class="error" role="alert">${problem}</p>`}
    <p class="summary" aria-live="polite">${alerts.value === undefined ? 'Loading…' : `${list.length} ${all ? '' : 'active '}alerts, ${list.filter((alert) => alert.acknowledged_by === null && acknowledged[alert.id] === undefined).length} not acknowledged`}</p>
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">Severity</th><th scope="col">Node</th><th scope="col">Kind</th><th scope="col">Raised</th><th scope="col">Detail</th><th scope="col">Acknowledged</th></tr></thead>
      <tbody>${list.map((alert) => {
        const by = alert.acknowledged_by ?? acknowledged[alert.id];
        // Keyed: a row stays its alert's when a newer one is put above it, so its button
        // never acknowledges another alert (unkeyed, the DOM rows were reused by position).
        return html`<tr key=${alert.id} class=${alert.cleared_at === null ? '' : 'cleared'}>
          <td><span class=${`badge severity-${alert.severity}`}>${alert.severity}</span></td>
          <th scope="row"><a href=${`#/node/${encodeURIComponent(alert.node_id)}`}>${alert.node_id}</a></th>
          <td>${alert.kind}</td><td title=${when(alert.raised_at)}>${ago(alert.raised_at, now)}${alert.cleared_at === null ? '' : `, cleared ${ago(alert.cleared_at, now)}`}</td>
          <td>${alert.detail}</td>
          <td>${by !== undefined ? `by ${by}` : html`<button type="button" class="small" onClick=${() => acknowledge(alert)} aria-label=${`Acknowledge ${alert.kind} on ${alert.node_id}`}>Acknowledge</button>`}</td>
        </tr>`;
      })}</tbody>
    </table></div>
  </section>`;
}
