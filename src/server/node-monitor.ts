// The gateway's monitoring loop (DESIGN §5: "the gateway observes the agent's /health"):
// for each node with a DTLS session (node-link.ts), one observation of its agent's /health
// and one of /metrics, started when the node gains its session and stopped when it loses
// it. Notifications go the way the node's own PUTs go (node-reports.ts). Bounded: two
// watches per connected node, and nodes connect only with the fleet's credentials.

import { decodeBody } from '../fleet/payload.js';
import { AgentRoute } from '../fleet/paths.js';
import { parseHealth, parseMetricsBody } from '../fleet/schemas.js';
import type { CoapResponse } from '../protocol/client.js';
import type { Clock, Logger } from '../protocol/interfaces.js';
import { systemClock } from '../protocol/runtime.js';
import { AgentWatch, type WatchState } from './agent-watch.js';
import type { NodeLink } from './node-link.js';
import type { NodeReports } from './node-reports.js';

export interface NodeMonitorOptions {
  readonly nodeLink: NodeLink;
  readonly reports: NodeReports;
  readonly logger: Logger;
  readonly clock?: Clock;
}

interface NodeWatches {
  readonly health: AgentWatch;
  readonly metrics: AgentWatch;
}

const bodyOf = (response: CoapResponse): unknown => decodeBody(response.payload, response.contentFormat);

export class NodeMonitor {
  readonly #options: NodeMonitorOptions;
  /** Per connected node, its two watches; removed when the node disconnects. */
  readonly #watches = new Map<string, NodeWatches>();
  readonly #unlisten: () => void;

  constructor(options: NodeMonitorOptions) {
    this.#options = options;
    this.#unlisten = options.nodeLink.onChange((nodeId, connected) => {
      if (connected) this.#start(nodeId);
      else this.#stop(nodeId);
    });
  }

  /** Where the watches of `nodeId` are (undefined: not watched). */
  statesOf(nodeId: string): { health: WatchState; metrics: WatchState } | undefined {
    const watches = this.#watches.get(nodeId);
    return watches === undefined ? undefined : { health: watches.health.state, metrics: watches.metrics.state };
  }

  /** Stops every watch and listens no more (the gateway stops). */
  stop(): void {
    this.#unlisten();
    for (const nodeId of [...this.#watches.keys()]) this.#stop(nodeId);
  }

  #start(nodeId: string): void {
    if (this.#watches.has(nodeId)) return;
    const { nodeLink, reports, logger } = this.#options;
    const watch = (path: string, deliver: (response: CoapResponse) => Promise<void>): AgentWatch =>
      new AgentWatch({ nodeLink, nodeId, path, deliver, clock: this.#options.clock ?? systemClock, logger });
    this.#watches.set(nodeId, {
      health: watch(AgentRoute.health, (response) => reports.health(nodeId, parseHealth(bodyOf(response)))),
      metrics: watch(AgentRoute.metrics, (response) => reports.metrics(nodeId, parseMetricsBody(bodyOf(response), nodeId))),
    });
  }

  #stop(nodeId: string): void {
    const watches = this.#watches.get(nodeId);
    if (watches === undefined) return;
    this.#watches.delete(nodeId);
    watches.health.stop();
    watches.metrics.stop();
  }
}
