// The page's shell: the session check and login, one CoAP-over-WebSocket connection for
// the whole page (RFC 8323 §4, /.well-known/coap on the page's own origin), the
// navigation and the hash routes of the views.
import { useEffect, useMemo, useState } from '../vendor/hooks.mjs';
import { AlertsView } from './alerts-view.js';
import { AuditView } from './audit-view.js';
import { CoapWebSocketClient, type ConnectionState } from './coap-ws.js';
import { FleetView } from './fleet-view.js';
import { html } from './html.js';
import { GatewayContext } from './live.js';
import { LoginView } from './login-view.js';
import { NodePage } from './node-view.js';
import { RolloutPage, RolloutsView } from './rollouts-view.js';
import { currentPrincipal, logout } from './session.js';

/** The clock the "ago" columns read, a tick this often. */
const TICK_MS = 5000;

type Route =
  | { readonly view: 'fleet' | 'rollouts' | 'alerts' | 'audit' }
  | { readonly view: 'node'; readonly id: string }
  | { readonly view: 'rollout'; readonly id: string };

export function routeOf(hash: string): Route {
  const [view = '', id] = hash.replace(/^#\/?/, '').split('/', 2) as [string, string | undefined];
  if (view === 'node' && id !== undefined && id !== '') return { view: 'node', id: decodeURIComponent(id) };
  if (view === 'rollouts' && id !== undefined && id !== '') return { view: 'rollout', id: decodeURIComponent(id) };
  if (view === 'rollouts' || view === 'alerts' || view === 'audit') return { view };
  return { view: 'fleet' };
}

const NAV = [
  { view: 'fleet', label: 'Fleet', href: '#/fleet' },
  { view: 'rollouts', label: 'Rollouts', href: '#/rollouts' },
  { view: 'alerts', label: 'Alerts', href: '#/alerts' },
  { view: 'audit', label: 'Audit', href: '#/audit' },
] as const;

export function App() {
  const [principal, setPrincipal] = useState<string | null | undefined>(undefined);
  const check = () => currentPrincipal().then((who) => setPrincipal(who ?? null), () => setPrincipal(null));
  useEffect(() => { void check(); }, []);
  if (principal === undefined) return html`<main id="main"><p>Loading…</p></main>`;
  if (principal === null) return html`<${LoginView} onLoggedIn=${check} />`;
  // A refused reconnection: the session may be gone (logged out elsewhere, gateway restarted)
  // or the gateway down; only a 401 from /api/session means the former.
  const recheck = () => currentPrincipal().then((who) => { if (who === undefined) setPrincipal(null); }, () => {});
  return html`<${Dashboard} principal=${principal} onLoggedOut=${() => setPrincipal(null)} onSessionLost=${recheck} />`;
}

function Dashboard({ principal, onLoggedOut, onSessionLost }: { principal: string; onLoggedOut: () => void; onSessionLost: () => void }) {
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const client = useMemo(() => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return new CoapWebSocketClient(`${scheme}://${location.host}/.well-known/coap`, { onState: setConnection, onRefused: onSessionLost });
  }, []);
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  const [route, setRoute] = useState<Route>(routeOf(location.hash));
  useEffect(() => {
    const follow = () => {
      setRoute(routeOf(location.hash));
      // Move focus to the new view, so a screen reader announces it.
      requestAnimationFrame(() => document.getElementById('main')?.focus());
    };
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, []);
  const leave = async () => {
    client.stop();
    await logout();
    onLoggedOut();
  };
  const connected = connection === 'open';
  const current = route.view === 'node' ? 'fleet' : route.view === 'rollout' ? 'rollouts' : route.view;
  return html`<${GatewayContext.Provider} value=${client}>
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <span class="brand">coap-fleet</span>
      <nav aria-label="Main"><ul>${NAV.map((item) => html`<li><a href=${item.href} aria-current=${item.view === current ? 'page' : undefined}>${item.label}</a></li>`)}</ul></nav>
      <span class=${`connection ${connection}`} role="status" aria-live="polite" data-testid="connection">${connection === 'open' ? 'live' : connection === 'connecting' ? 'connecting…' : 'disconnected, retrying'}</span>
      <span class="who">${principal}</span>
      <button type="button" class="small" onClick=${leave}>Log out</button>
    </header>
    <main id="main" tabindex="-1">
      ${route.view === 'fleet' ? html`<${FleetView} now=${now} />`
        : route.view === 'node' ? html`<${NodePage} key=${route.id} id=${route.id} now=${now} connected=${connected} />`
        : route.view === 'rollouts' ? html`<${RolloutsView} />`
        : route.view === 'rollout' ? html`<${RolloutPage} key=${route.id} id=${route.id} />`
        : route.view === 'alerts' ? html`<${AlertsView} now=${now} />`
        : html`<${AuditView} connected=${connected} />`}
    </main>
  <//>`;
}
