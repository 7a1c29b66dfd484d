// The gateway's metrics history (DESIGN §7): every node's samples in the state store, fed
// by the agent's pushes and by the gateway's observation of its /metrics, thinned with age
// by metrics-tiers.ts. Samples live in the store's unsynced reports environment: one lost
// in a power cut is replaced by the next (the same bargain as health samples). A node's history is thinned every
// COMPACT_INTERVAL_MS of gateway time or after COMPACT_AFTER_SAMPLES new samples, whichever
// comes first, so a fast pusher cannot grow it past the cap by more than that batch.

import type { MetricsSample, MetricsView } from '../fleet/node-views.js';
import { METRICS_CAP_PER_NODE, METRICS_TIERS, samplesToDrop, type MetricsTier } from './metrics-tiers.js';
import { notFound } from './replies.js';
import type { GatewayStore } from './store.js';

const COMPACT_INTERVAL_MS = 60_000;
const COMPACT_AFTER_SAMPLES = 100;

export interface MetricsHistoryOptions {
  readonly now: () => Date;
  readonly tiers?: readonly MetricsTier[];
  readonly capPerNode?: number;
}

/** What the history knows of one node beyond its stored samples (memory only). */
interface NodeBook {
  /** The newest stored sample's time (epoch ms): samples after it are new. */
  newest: number;
  /** The agent's interval as its last MetricsView said; undefined until one did. */
  intervalS: number | undefined;
  lastCompacted: number;
  addedSinceCompaction: number;
}

export class MetricsHistory {
  readonly #store: GatewayStore;
  readonly #options: MetricsHistoryOptions;
  /** Per node that sent samples since the start; bounded by the registered nodes (a
   * decommissioned node's entry goes with its history). */
  readonly #books = new Map<string, NodeBook>();

  constructor(store: GatewayStore, options: MetricsHistoryOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** Stores `samples` of `nodeId` and resolves with those newer than every sample kept
   * before (oldest first): the ones worth evaluating and notifying. Older ones (an agent
   * sending its kept history again) are stored too, deduplicated by their time. 4.04 when
   * the node is not registered: checked in the same transaction as the write, so no
   * history outlives a decommission. */
  async append(nodeId: string, samples: readonly MetricsSample[], intervalS?: number): Promise<MetricsSample[]> {
    const book = this.#bookOf(nodeId);
    if (intervalS !== undefined) book.intervalS = intervalS;
    const timed = samples.map((sample) => ({ at: Date.parse(sample.at), sample })).sort((a, b) => a.at - b.at);
    if (timed.length === 0) return [];
    const fresh = timed.filter(({ at }) => at > book.newest);
    const now = this.#options.now().getTime();
    book.addedSinceCompaction += timed.length;
    const compact = book.addedSinceCompaction >= COMPACT_AFTER_SAMPLES || now - book.lastCompacted >= COMPACT_INTERVAL_MS;
    await this.#store.reportsAtomically((writer) => {
      if (this.#store.getNode(nodeId) === undefined) throw notFound(`node ${nodeId} (register first)`);
      for (const { at, sample } of timed) writer.putMetrics(nodeId, at, sample);
      if (compact) writer.removeMetrics(nodeId, this.#toDrop(nodeId, now));
    });
    if (compact) {
      book.lastCompacted = now;
      book.addedSinceCompaction = 0;
    }
    book.newest = Math.max(book.newest, timed.at(-1)!.at);
    return fresh.map(({ sample }) => sample);
  }

  /** The history of `nodeId` as GET /nodes/{id}/metrics shows it: the newest `limit`
   * samples taken after `afterMs`, oldest first. */
  view(nodeId: string, afterMs: number, limit: number): MetricsView {
    const samples = this.#store.metricsOf(nodeId, afterMs, limit);
    return { node_id: nodeId, interval_s: this.#intervalOf(nodeId, samples), samples };
  }

  /** The node was decommissioned (committed): its history goes, and what is known of it
   * here. An append that checked the node before the decommission committed, and so
   * wrote, ran before this transaction (they run one at a time): nothing outlives it. */
  async forget(nodeId: string): Promise<void> {
    this.#books.delete(nodeId);
    await this.#store.reportsAtomically((writer) => writer.removeMetrics(nodeId, this.#store.metricsTimes(nodeId)));
  }

  #toDrop(nodeId: string, now: number): number[] {
    return samplesToDrop(this.#store.metricsTimes(nodeId), now, this.#options.tiers ?? METRICS_TIERS, this.#options.capPerNode ?? METRICS_CAP_PER_NODE);
  }

  /** The agent's interval when it said, else the gap between the two newest samples shown. */
  #intervalOf(nodeId: string, samples: readonly MetricsSample[]): number {
    const said = this.#books.get(nodeId)?.intervalS;
    if (said !== undefined) return said;
    if (samples.length < 2) return 0;
    return Math.round((Date.parse(samples.at(-1)!.at) - Date.parse(samples.at(-2)!.at)) / 1000);
  }

  #bookOf(nodeId: string): NodeBook {
    let book = this.#books.get(nodeId);
    if (book === undefined) {
      const times = this.#store.metricsTimes(nodeId);
      book = { newest: times.at(-1) ?? Number.NEGATIVE_INFINITY, intervalS: undefined, lastCompacted: Number.NEGATIVE_INFINITY, addedSinceCompaction: 0 };
      this.#books.set(nodeId, book);
    }
    return book;
  }
}
