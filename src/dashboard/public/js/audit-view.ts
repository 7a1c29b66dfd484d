// The audit log (GET /audit, newest first, a page at a time with `?after=`), filtered by
// who (exact) and action (prefix). The gateway does not offer it for observation: it is
// read on demand.
import { useState } from '../vendor/hooks.mjs';
import type { AuditPage } from '@fleet/views.js';
import { when } from './format.js';
import { html } from './html.js';
import { useFetched } from './live.js';

const PAGE = 50;

export function AuditView({ connected }: { connected: boolean }) {
  const [who, setWho] = useState('');
  const [action, setAction] = useState('');
  const [cursors, setCursors] = useState<readonly number[]>([]);
  const query = [`limit=${PAGE}`, ...(who === '' ? [] : [`who=${encodeURIComponent(who)}`]),
    ...(action === '' ? [] : [`action=${encodeURIComponent(action)}`]), ...(cursors.length === 0 ? [] : [`after=${cursors.at(-1)}`])];
  const page = useFetched<AuditPage>(`/audit?${query.join('&')}`, connected);
  const filter = (set: (value: string) => void) => (event: Event) => {
    set((event.target as HTMLInputElement).value.trim());
    setCursors([]);
  };
  return html`<section aria-labelledby="audit-title">
    <h1 id="audit-title">Audit log</h1>
    <div class="toolbar" role="search">
      <label>Who <input type="search" placeholder="operator:alice" onChange=${filter(setWho)} /></label>
      <label>Action <input type="search" placeholder="update." onChange=${filter(setAction)} /></label>
      <button type="button" onClick=${page.reload}>Refresh</button>
    </div>
    ${page.error === undefined ? null : html`<p class="error" role="alert">${page.error}</p>`}
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Detail</th></tr></thead>
      <tbody>${(page.value?.entries ?? []).map((entry) => html`<tr><td>${when(entry.at)}</td><td>${entry.who}</td><td>${entry.action}</td><td>${entry.target}</td><td>${entry.detail ?? ''}</td></tr>`)}</tbody>
    </table></div>
    <nav class="pager" aria-label="Audit pages">
      <button type="button" disabled=${cursors.length === 0} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
      <button type="button" disabled=${page.value?.next === null || page.value === undefined} onClick=${() => setCursors([...cursors, page.value!.next!])}>Older</button>
    </nav>
  </section>`;
}
