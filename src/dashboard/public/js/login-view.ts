// The login form: the operator's dashboard token (`keys generate` writes it to
// dashboard-token-NAME.txt), exchanged for the session cookie.
import { useState } from '../vendor/hooks.mjs';
import { html } from './html.js';
import { login } from './session.js';

export function LoginView({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await login(token.trim());
      setToken('');
      onLoggedIn();
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main id="main" class="login">
    <h1>coap-fleet dashboard</h1>
    <form onSubmit=${submit} aria-describedby="login-help">
      <label for="token">Operator token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required
        value=${token} onInput=${(event: Event) => setToken((event.target as HTMLInputElement).value)} />
      <p id="login-help" class="hint">The contents of dashboard-token-NAME.txt that <code>coap-fleet keys generate</code> wrote.</p>
      <button type="submit" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
      ${error === undefined ? null : html`<p class="error" role="alert">Login refused: ${error}</p>`}
    </form>
  </main>`;
}
