// The node's health (DESIGN §5): a sample every health interval, served at the agent's
// observable /health (each notification a CON: the gateway observing it hears the
// sample and the node's heartbeat at once) and PUT to /nodes/{id}/health only while
// nobody observes. Used by the agent (its figures from the kernel, system-health.ts) and
// by the simulator's virtual nodes (figures of their own).

import { linkAttributes } from '../fleet/link-attributes.js';
import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';
import { AgentRoute } from '../fleet/paths.js';
import { encodeBody } from '../fleet/payload.js';
import type { HealthReport } from '../fleet/schemas.js';
import { codeClass, describeCode, ResponseCode } from '../protocol/codes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { Clock } from '../protocol/interfaces.js';
import type { GatewayLink } from './gateway-link.js';
import type { StopToken } from './interfaces.js';
import { Periodic } from './periodic.js';

export interface HealthHeartbeatDeps {
  readonly endpoint: Endpoint;
  readonly gateway: Pick<GatewayLink, 'putHealth'>;
  readonly nodeId: string;
  readonly sample: () => Promise<HealthReport>;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly stop: Pick<StopToken, 'requested' | 'soft'>;
  readonly log: AgentLogger;
  /** The gateway answered a PUT with 4.04: it does not know this node (register again). */
  readonly onUnknownNode: () => void;
}

export class HealthHeartbeat {
  readonly #deps: HealthHeartbeatDeps;
  /** At the period in force: the configuration's until a signed config.set changes it. */
  readonly #periodic: Periodic;
  #last: HealthReport | undefined;

  constructor(deps: HealthHeartbeatDeps) {
    this.#deps = deps;
    this.#periodic = new Periodic(deps.clock, deps.stop, deps.intervalMs, () => this.#push());
  }

  /** Adds /health to the endpoint's resources. */
  serve(): void {
    this.#deps.endpoint.router.add(AgentRoute.health, {
      // Every notification a CON: it is the node's heartbeat, and its ACK is how the agent
      // learns within seconds that the gateway lost their session (transport-dtls.ts probes
      // after unanswered retransmissions) instead of sending NONs into the void (§4.5).
      observable: 'confirmable',
      attributes: linkAttributes('health', { if: 'item', ct: 'app', obs: true }),
      handlers: {
        GET: (request) => ({ code: ResponseCode.Content, ...encodeBody(this.#last ?? null, request.accept), maxAge: Math.ceil(this.#periodic.periodMs / 1000) }),
      },
    });
  }

  /** Takes the first sample, then one every interval. */
  async start(): Promise<void> {
    await this.#sample();
    this.#periodic.start();
  }

  /** A new period (config.set): the next sample is one new interval away. */
  setIntervalMs(ms: number): void {
    this.#periodic.setPeriodMs(ms);
  }

  stop(): void {
    this.#periodic.stop();
  }

  async #sample(): Promise<void> {
    try {
      this.#last = await this.#deps.sample();
      this.#deps.endpoint.notify(AgentRoute.health);
    } catch (error) {
      this.#deps.log.warn({ err: error }, 'cannot read the health figures');
    }
  }

  async #push(): Promise<void> {
    const { endpoint, gateway, nodeId, stop, log } = this.#deps;
    await this.#sample();
    // The gateway observing /health hears each sample from the notification; the PUT is
    // the heartbeat only when nobody observes (DESIGN §5).
    if (this.#last === undefined || endpoint.observers(AgentRoute.health) > 0) return;
    try {
      const code = await gateway.putHealth(nodeId, this.#last, stop.soft);
      if (code === ResponseCode.NotFound) this.#deps.onUnknownNode();
      else if (codeClass(code) !== 2) log.warn({ code: describeCode(code) }, 'health report refused');
    } catch (error) {
      if (!stop.requested) log.debug({ err: error }, 'health report not delivered');
    }
  }
}
