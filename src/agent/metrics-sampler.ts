// Takes a metrics sample (system-metrics.ts) at start and then every interval on the
// agent's clock, keeps the last `history` of them (a ring), and tells its listeners of
// each new one (GET /metrics notifies its observers). The interval may change while it
// runs (setIntervalS, for /system/config); the next sample is then one new interval away.

import type { MetricsSample } from '../fleet/node-views.js';
import type { DaemonLogger } from '../fleet/logger.js';
import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import { RingBuffer } from './ring-buffer.js';

export interface MetricsSource {
  sample(at: Date): Promise<MetricsSample>;
}

export interface MetricsSamplerOptions {
  readonly source: MetricsSource;
  readonly clock: Clock;
  readonly intervalS: number;
  readonly history: number;
  readonly log: DaemonLogger;
  /** The node's wall clock, for the samples' `at` (Date.now unless a test gives its own). */
  readonly wallTime?: () => number;
}

export class MetricsSampler {
  readonly #source: MetricsSource;
  readonly #clock: Clock;
  readonly #log: DaemonLogger;
  readonly #wallTime: () => number;
  readonly #history: RingBuffer<{ readonly atMs: number; readonly sample: MetricsSample }>;
  readonly #listeners = new Set<(sample: MetricsSample) => void>();
  #intervalS: number;
  #timer: TimerHandle | undefined;
  #sampling: Promise<void> | undefined;
  #running = false;
  #failing = false;

  constructor(options: MetricsSamplerOptions) {
    this.#source = options.source;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#wallTime = options.wallTime ?? Date.now;
    this.#intervalS = options.intervalS;
    this.#history = new RingBuffer(options.history);
  }

  get intervalS(): number {
    return this.#intervalS;
  }

  /** Takes the first sample and schedules the next. */
  async start(): Promise<void> {
    this.#running = true;
    await this.#takeSample();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#sampling;
  }

  /** A new period, from now on (seconds, > 0). */
  setIntervalS(seconds: number): void {
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new RangeError(`metrics interval ${seconds} s`);
    this.#intervalS = seconds;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#schedule();
    }
  }

  /** Called with each new sample; returns a function that removes the listener. */
  onSample(listener: (sample: MetricsSample) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  latest(): MetricsSample | undefined {
    return this.#history.newest()?.sample;
  }

  /** The kept samples taken after `sinceMs` (epoch milliseconds), oldest first. */
  since(sinceMs: number): MetricsSample[] {
    return this.#history.toArray().filter((entry) => entry.atMs > sinceMs).map((entry) => entry.sample);
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#takeSample().finally(() => this.#schedule());
    }, this.#intervalS * 1000);
  }

  #takeSample(): Promise<void> {
    this.#sampling ??= (async () => {
      const atMs = this.#wallTime();
      try {
        const sample = await this.#source.sample(new Date(atMs));
        this.#history.push({ atMs, sample });
        if (this.#failing) this.#log.info('metrics readable again');
        this.#failing = false;
        for (const listener of this.#listeners) listener(sample);
      } catch (error) {
        // Once per failing spell: a /proc that cannot be read stays so for a while.
        if (!this.#failing) this.#log.warn({ err: error }, 'cannot read the metrics');
        this.#failing = true;
      }
    })().finally(() => { this.#sampling = undefined; });
    return this.#sampling;
  }
}
