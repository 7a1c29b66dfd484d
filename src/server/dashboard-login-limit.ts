// How many dashboard logins may be tried (issue 15): per client address and in all, per
// fixed window. The tokens are 256 random bits, so this is not what keeps them secret; it
// keeps a flood of attempts from costing the gateway (each is a hash and an audit entry)
// and keeps the audit readable. Bounded: past `maxAddresses` in one window, new addresses
// count against the total only.

export interface LoginLimits {
  readonly perAddress: number;
  readonly total: number;
  readonly windowMs: number;
  readonly maxAddresses: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAddress: 10, total: 60, windowMs: 60_000, maxAddresses: 4096 };

export class LoginLimit {
  readonly #limits: LoginLimits;
  readonly #now: () => number;
  #windowStart = -Infinity;
  #total = 0;
  /** Attempts per address in this window; cleared when the window turns. */
  readonly #perAddress = new Map<string, number>();

  constructor(now: () => number, limits: Partial<LoginLimits> = {}) {
    this.#now = now;
    this.#limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
  }

  /** Counts an attempt from `address`: undefined if it may go on, else the seconds until
   * it may try again (Retry-After). */
  attempt(address: string): number | undefined {
    const now = this.#now();
    if (now - this.#windowStart >= this.#limits.windowMs) {
      this.#windowStart = now;
      this.#total = 0;
      this.#perAddress.clear();
    }
    const retryAfter = Math.max(1, Math.ceil((this.#windowStart + this.#limits.windowMs - now) / 1000));
    const count = this.#perAddress.get(address) ?? 0;
    if (count >= this.#limits.perAddress || this.#total >= this.#limits.total) return retryAfter;
    this.#total++;
    if (this.#perAddress.has(address) || this.#perAddress.size < this.#limits.maxAddresses) this.#perAddress.set(address, count + 1);
    return undefined;
  }
}
