// The dashboard login over plain HTTP (DASH-CONTRACT.md): POST /api/login with the
// operator's token sets the HttpOnly session cookie the WebSocket upgrade needs;
// GET /api/session names the principal; POST /api/logout forgets the session.

export class LoginError extends Error {
  override readonly name = 'LoginError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The session's principal ("operator:alice"), or undefined when not logged in. */
export async function currentPrincipal(): Promise<string | undefined> {
  const response = await fetch('/api/session', { credentials: 'same-origin' });
  if (response.status === 401) return undefined;
  if (!response.ok) throw new LoginError(response.status, `session: HTTP ${response.status}`);
  return ((await response.json()) as { principal: string }).principal;
}

export async function login(token: string): Promise<void> {
  const response = await fetch('/api/login', {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }),
  });
  if (response.ok) return;
  const retry = response.headers.get('Retry-After');
  let reason = `HTTP ${response.status}`;
  try {
    reason = ((await response.json()) as { error?: string }).error ?? reason;
  } catch {
    // A body that is not JSON: the status says enough.
  }
  if (response.status === 429) reason = `too many attempts; try again in ${retry ?? 'a while'} s`;
  throw new LoginError(response.status, reason);
}

export async function logout(): Promise<void> {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
}
