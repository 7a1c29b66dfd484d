// When a wave's bake time ends, nothing else happens at the gateway (no request, no
// report), yet the rollout's representations change (the wave is done, the next may
// start). An alarm per update at its earliest bake end tells the observers (the rollout
// watch, the dashboard) then. At most MAX_BAKE_ALARMS at once; past that, an update's
// observers hear at its next change instead.

export const MAX_BAKE_ALARMS = 1000;

export class BakeAlarms {
  readonly #now: () => Date;
  readonly #ring: (updateId: string) => void;
  /** Per update id: the alarm's time (epoch ms) and timer; an entry goes when it rings or at stop. */
  readonly #alarms = new Map<string, { readonly at: number; readonly timer: NodeJS.Timeout }>();
  #stopped = false;

  constructor(now: () => Date, ring: (updateId: string) => void) {
    this.#now = now;
    this.#ring = ring;
  }

  /** Rings for `updateId` at `at` (epoch ms), unless an alarm at or before it is set. */
  set(updateId: string, at: number): void {
    const existing = this.#alarms.get(updateId);
    if (this.#stopped || (existing !== undefined && existing.at <= at)) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    else if (this.#alarms.size >= MAX_BAKE_ALARMS) return;
    const timer = setTimeout(() => {
      this.#alarms.delete(updateId);
      this.#ring(updateId);
    }, Math.max(0, at - this.#now().getTime()));
    this.#alarms.set(updateId, { at, timer });
  }

  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#alarms.values()) clearTimeout(timer);
    this.#alarms.clear();
  }
}
