// The agent's read resources on its CoAP endpoint (DESIGN §5): /metrics (observable, a
// sample every metrics_interval_s), /logs (Block2, Observe = follow) and /services with
// /services/{name}. The gateway reaches them over the DTLS session the agent opened
// (LwM2M's pattern), so they are routes on that endpoint and nothing more.

import type { DaemonLogger } from '../fleet/logger.js';
import { AgentRoute } from '../fleet/paths.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { RequestHandler } from '../protocol/server-types.js';
import type { Clock } from '../protocol/interfaces.js';
import { AllowedServices } from './allowed-services.js';
import type { AgentConfig } from './config.js';
import { LogFollows } from './log-follows.js';
import { createLogSource } from './log-source.js';
import { addLogsResource } from './logs-resource.js';
import { addMetricsResource } from './metrics-resource.js';
import { MetricsSampler, type MetricsSource } from './metrics-sampler.js';
import { createServiceManager } from './service-manager.js';
import { addServicesResources } from './services-resource.js';
import { SystemMetrics } from './system-metrics.js';

export type ReadConfig = Pick<AgentConfig,
  'nodeId' | 'metricsIntervalS' | 'metricsHistory' | 'logSource' | 'logFiles' | 'allowedUnits' | 'servicesAdapter' | 'servicesCommand'>;

/** What the agent takes from the machine unless a test gives its own (as AgentOptions
 * gives the clock): the /proc it samples, its wall clock, how often a follow polls. */
export interface ReadResourceParts {
  readonly metrics?: MetricsSource;
  /** The node's wall clock for the samples' times (Date.now by default). */
  readonly wallTime?: () => number;
  readonly logFollowPollMs?: number;
  /** POST /services/{name}: the signed service actions (command-resources.ts). */
  readonly servicePost?: (services: AllowedServices) => RequestHandler;
}

export interface ReadResources {
  /** setIntervalS for a live metrics_interval_s. */
  readonly sampler: MetricsSampler;
  /** setAllowedUnits for a live allowed_units; the gate and the manager for service actions. */
  readonly services: AllowedServices;
  /** Takes the first sample and starts sampling. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function addReadResources(endpoint: Endpoint, config: ReadConfig, clock: Clock, log: DaemonLogger, parts: ReadResourceParts = {}): ReadResources {
  const sampler = new MetricsSampler({
    source: parts.metrics ?? new SystemMetrics(), clock, intervalS: config.metricsIntervalS, history: config.metricsHistory,
    log: log.child({ component: 'metrics' }), ...(parts.wallTime === undefined ? {} : { wallTime: parts.wallTime }),
  });
  const source = createLogSource(config);
  const follows = new LogFollows({
    source, clock, log: log.child({ component: 'logs' }),
    observers: () => endpoint.observers(AgentRoute.logs), notify: () => endpoint.notify(AgentRoute.logs),
    ...(parts.logFollowPollMs === undefined ? {} : { pollMs: parts.logFollowPollMs }),
  });
  const services = new AllowedServices(createServiceManager(config), config.allowedUnits);
  const stopNotifying = addMetricsResource(endpoint, { nodeId: config.nodeId, sampler });
  addLogsResource(endpoint, { nodeId: config.nodeId, source, follows });
  addServicesResources(endpoint, { nodeId: config.nodeId, services, post: parts.servicePost?.(services) });
  return {
    sampler, services,
    start: () => sampler.start(),
    stop: async () => {
      stopNotifying();
      await Promise.all([sampler.stop(), follows.stop()]);
    },
  };
}
