// Dashboard sessions (issue 15): a login makes one, named by 256 random bits (the cookie's
// value, never logged); each ends at logout, after `idleMs` without use, or `maxAgeMs`
// after the login whatever its use. Bounded: past `maxSessions` the least recently used
// goes (an operator's old tab, most likely). Who is told of an end closes its WebSockets.

import { randomBytes } from 'node:crypto';

export interface SessionLimits {
  readonly maxSessions: number;
  readonly idleMs: number;
  readonly maxAgeMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxSessions: 256,
  idleMs: 30 * 60_000,
  maxAgeMs: 12 * 3600_000,
};

interface Session {
  readonly principal: string;
  readonly createdAt: number;
  lastUsedAt: number;
}

export class DashboardSessions {
  readonly #limits: SessionLimits;
  readonly #now: () => number;
  readonly #onEnd: (id: string) => void;
  /** By id, least recently used first; bounded by limits.maxSessions. */
  readonly #sessions = new Map<string, Session>();

  constructor(options: { limits?: Partial<SessionLimits>; now: () => number; onEnd: (id: string) => void }) {
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
    this.#now = options.now;
    this.#onEnd = options.onEnd;
  }

  get size(): number {
    return this.#sessions.size;
  }

  create(principal: string): string {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    this.#sessions.set(id, { principal, createdAt: now, lastUsedAt: now });
    while (this.#sessions.size > this.#limits.maxSessions) this.end(this.#sessions.keys().next().value!);
    return id;
  }

  /** The session's principal, and the session used now; undefined for an unknown or
   * expired id (an expired one ends). */
  use(id: string): string | undefined {
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    const now = this.#now();
    if (this.#expired(session, now)) {
      this.end(id);
      return undefined;
    }
    session.lastUsedAt = now;
    this.#sessions.delete(id);
    this.#sessions.set(id, session);
    return session.principal;
  }

  /** The session's principal without using it. */
  principalOf(id: string): string | undefined {
    return this.#sessions.get(id)?.principal;
  }

  end(id: string): void {
    if (this.#sessions.delete(id)) this.#onEnd(id);
  }

  /** Ends every expired session; `inUse` ones (an open WebSocket) count as used now. */
  sweep(inUse: (id: string) => boolean): void {
    const now = this.#now();
    for (const [id, session] of [...this.#sessions]) {
      if (inUse(id) && now - session.createdAt < this.#limits.maxAgeMs) session.lastUsedAt = now;
      else if (this.#expired(session, now)) this.end(id);
    }
  }

  #expired(session: Session, now: number): boolean {
    return now - session.lastUsedAt >= this.#limits.idleMs || now - session.createdAt >= this.#limits.maxAgeMs;
  }
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const index = pair.indexOf('=');
    if (index > 0 && pair.slice(0, index).trim() === name) return pair.slice(index + 1).trim();
  }
  return undefined;
}
