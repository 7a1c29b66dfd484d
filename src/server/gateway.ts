// The gateway daemon put together (DESIGN §1): state store, firmware store, rollout manager,
// presence, the monitoring of connected nodes, and the resources on the endpoints behind
// the access table; and its graceful stop: refuse new requests, let running ones finish
// (bounded), close the endpoints, flush and close LMDB. The state store is checked before
// it is opened (fleet/store-check.ts); the settings changed at run time (config-overlay.ts)
// are laid over the configuration before anything else uses it.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { DtlsEndpoint } from '../dtls/dtls-endpoint.js';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LogThrottle } from '../fleet/log-throttle.js';
import { GatewayRoute, gatewayPath } from '../fleet/paths.js';
import { checkStore } from '../fleet/store-check.js';
import type { StoreWriteError } from '../fleet/errors.js';
import { formatPeer, type PeerAddress } from '../protocol/interfaces.js';
import { alertRules } from './alert-settings.js';
import type { ConfigSources, GatewayConfig } from './config.js';
import { readOverlay } from './config-overlay.js';
import { allEndpoints, endCertificateSessions, endpointList, openEndpoints, openEnrollmentEndpoint, type GatewayEndpoints } from './endpoints.js';
// Imported when est_port is set: it brings the X.509 issuing stack (@peculiar/x509).
import type { Enrollment } from './enrollment.js';
// Imported when dashboard_port is set: it brings the HTTP and WebSocket servers (`ws`).
import type { Dashboard } from './dashboard.js';
import { addEnrollmentResources, serveSimpleEnroll } from './resources-enrollment.js';
import { addRevocationResources } from './resources-revocations.js';
import { ConfigError, StateUnavailable } from './errors.js';
import { GatewayLifecycle, type GatewayState } from './gateway-lifecycle.js';
import { ImageStore } from './image-store.js';
import { protocolLogger, type DaemonLogger as ServerLogger } from '../fleet/logger.js';
import { NodeLink } from './node-link.js';
import { Presence } from './presence.js';
import { BakeAlarms } from './bake-alarms.js';
import type { AuditEntry } from './records.js';
import { addAlertResources } from './resources-alerts.js';
import { Alerts } from './alerts.js';
import { addAuditResources } from './resources-audit.js';
import { Forwarder } from './forwarder.js';
import { MetricsHistory } from './metrics-history.js';
import { NodeMonitor } from './node-monitor.js';
import { nodeProxy } from './node-proxy.js';
import { NodeReports } from './node-reports.js';
import { addForwardedResources } from './resources-forwarded.js';
import { addMetricsResources } from './resources-metrics.js';
import { addNodeResources } from './resources-nodes.js';
import { addSystemResources, type StopRequest } from './resources-system.js';
import { ResponseCache } from './response-cache.js';
import { SharedObservations } from './shared-observations.js';
import { loadWithOverlay, SystemConfig } from './system-config.js';
import { addUpdateResources } from './resources-updates.js';
import { RolloutManager } from './rollout-manager.js';
import { GatewayRouter, whoOf } from './routing.js';
import { GatewayStore } from './store.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Where `config` came from (the command line's sources): a change through
   * /system/config is checked by loading them again with the new overlay. Without them,
   * `config` itself is the base layer. */
  readonly sources?: ConfigSources;
  readonly logger: ServerLogger;
  /** Serve on these instead of the configured ones (tests: transports that stamp identities). */
  readonly endpoints?: GatewayEndpoints;
  readonly now?: () => Date;
}

/** A disk that refuses writes fails every one of them: one error line per this long. */
const WRITE_FAILURE_LOG_INTERVAL_MS = 10_000;

export class Gateway {
  readonly store: GatewayStore;
  readonly images: ImageStore;
  readonly router: GatewayRouter;
  /** The observations of connected nodes' agents. */
  readonly monitor: NodeMonitor;
  readonly #endpoints: GatewayEndpoints;
  readonly #presence: Presence;
  readonly #observations: SharedObservations;
  readonly #logger: ServerLogger;
  readonly #systemConfig: SystemConfig;
  readonly #lifecycle: GatewayLifecycle;
  readonly #dashboard: Dashboard | undefined;
  #stopped: Promise<void> | undefined;
  readonly #stopRequest: Promise<StopRequest>;
  #resolveStopRequest: (request: StopRequest) => void = () => {};

  private constructor(parts: {
    store: GatewayStore; images: ImageStore; router: GatewayRouter; endpoints: GatewayEndpoints; presence: Presence;
    logger: ServerLogger; lifecycleLogger: ServerLogger; systemConfig: SystemConfig; monitor: NodeMonitor; observations: SharedObservations;
    bakes: BakeAlarms; dashboard: Dashboard | undefined;
  }) {
    this.store = parts.store;
    this.images = parts.images;
    this.router = parts.router;
    this.#endpoints = parts.endpoints;
    this.#presence = parts.presence;
    this.#observations = parts.observations;
    this.#logger = parts.logger;
    this.#systemConfig = parts.systemConfig;
    this.monitor = parts.monitor;
    this.#dashboard = parts.dashboard;
    this.#stopRequest = new Promise((resolve) => { this.#resolveStopRequest = resolve; });
    this.#lifecycle = new GatewayLifecycle(protocolLogger(parts.lifecycleLogger), {
      stopping: () => {
        this.#presence.stop();
        this.monitor.stop();
        parts.bakes.stop();
      },
      stopped: () => this.#logger.info('gateway stopped'),
    });
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { logger } = options;
    const now = options.now ?? (() => new Date());
    const dataDir = options.config.data_dir;
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (error) {
      throw new ConfigError(`data_dir: cannot create ${dataDir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const origin = options.sources === undefined ? { config: options.config } : { sources: options.sources };
    const overlay = readOverlay(dataDir);
    const config = Object.keys(overlay).length === 0 ? options.config : await loadWithOverlay(origin, dataDir, overlay);
    // Every component logs through a child made here, so a new level reaches them all.
    const loggers = [logger];
    const componentLogger = (component: string): ServerLogger => {
      const child = logger.child({ component });
      loggers.push(child);
      return child;
    };
    const setLevel = (level: string): void => { for (const each of loggers) each.level = level; };
    setLevel(config.log_level);
    const publisherKey = config.publisher_key_file === null ? undefined : await loadPublisherKey(config.publisher_key_file);
    const writeFailures = new LogThrottle(WRITE_FAILURE_LOG_INTERVAL_MS);
    const onWriteFailure = (error: StoreWriteError): void => {
      writeFailures.take((suppressed) => logger.error({ err: error, suppressed }, 'a write refused by the disk; answering 5.03'));
    };
    const images = await ImageStore.open(join(config.data_dir, 'images'), onWriteFailure, protocolLogger(componentLogger('images')));
    const stateDir = join(config.data_dir, 'state');
    await checkStore(stateDir, { databases: GatewayStore.DATABASES, added: GatewayStore.ADDED_DATABASES });
    const store = await GatewayStore.open(stateDir, { auditMaxEntries: config.audit_max_entries, onWriteFailure });
    if (store.reportsDiscarded !== undefined) logger.warn({ reason: store.reportsDiscarded }, 'health reports and metrics history damaged: started afresh (registrations, rollouts and audit are intact)');
    await warnOfLostState(store, images, config.data_dir, logger);
    let endpoints: GatewayEndpoints;
    let enrollment: Enrollment | undefined;
    try {
      endpoints = options.endpoints ?? await openEndpoints(config, protocolLogger(componentLogger('coap')), (certificate) => store.isRevoked(certificate));
      if (config.est_port !== null && options.endpoints === undefined) {
        const { Enrollment } = await import('./enrollment.js');
        const ca = await Enrollment.loadCa(config).catch(async (error: unknown) => {
          await Promise.all(allEndpoints(endpoints).map((endpoint) => endpoint.close()));
          throw error;
        });
        const enrollLogger = protocolLogger(componentLogger('enrollment'));
        enrollment = new Enrollment({ store, ca, validityS: config.enroll_certificate_validity_s, now, logger: enrollLogger });
        const lookup = enrollment.pskLookup.bind(enrollment);
        const est = await openEnrollmentEndpoint(config, lookup, protocolLogger(componentLogger('est'))).catch(async (error: unknown) => {
          await Promise.all(allEndpoints(endpoints).map((endpoint) => endpoint.close()));
          throw error;
        });
        serveSimpleEnroll(est, enrollment);
        endpoints = { ...endpoints, est };
      }
    } catch (error) {
      await store.close();
      throw error;
    }
    const audit = (entry: AuditEntry): void => {
      store.audit(entry).catch((error: unknown) => {
        // A refused write was logged already, at a bounded rate.
        if (!(error instanceof StateUnavailable)) logger.error({ err: error, entry }, 'audit entry not written');
      });
    };
    auditHandshakeFailures(endpoints, audit, now);
    let dashboard: Dashboard | undefined;
    if (config.dashboard_port !== null) {
      try {
        const { Dashboard } = await import('./dashboard.js');
        dashboard = await Dashboard.open({ config, logger: protocolLogger(componentLogger('dashboard')), audit, now });
      } catch (error) {
        await Promise.all(allEndpoints(endpoints).map((endpoint) => endpoint.close()));
        await store.close();
        throw error;
      }
      endpoints = { ...endpoints, dashboard: dashboard.endpoint };
    }
    const nodeLink = new NodeLink(endpoints.coaps, { logger: protocolLogger(componentLogger('node-link')), limits: { timeoutMs: config.node_timeout_ms } });
    const router = new GatewayRouter(endpointList(endpoints), {
      // Only a registered node is linked (and so watched): a representation of an agent
      // whose record is not yet written would be refused and lost. Its registration links it.
      onNodeRequest: (nodeId, peer) => { if (store.getNode(nodeId) !== undefined) nodeLink.seen(nodeId, peer); },
      logger: protocolLogger(componentLogger('access')),
      authorization: { allowLocalPlain: config.allow_local_plain, targetsOf: (id) => store.getUpdate(id)?.manifest.target_nodes },
      audit,
      now,
    });
    const alerts = new Alerts(store, { rules: alertRules(config), now, logger: protocolLogger(componentLogger('alerts')), onChange: () => router.notify(GatewayRoute.alerts) });
    const presence = new Presence(store, {
      ...presenceTiming(config),
      now,
      logger: protocolLogger(componentLogger('presence')),
      onChange: (nodeId, to) => {
        const online = to === 'online';
        if (online) logger.info({ node: nodeId }, 'node back online');
        else {
          logger.warn({ node: nodeId }, 'node offline');
          nodeLink.forget(nodeId);
        }
        audit({ at: now().toISOString(), who: 'gateway', action: online ? 'node.online' : 'node.offline', target: gatewayPath.node(nodeId) });
        router.notify(GatewayRoute.nodes, gatewayPath.node(nodeId), gatewayPath.health(nodeId));
        void alerts.presenceChanged(nodeId, online);
      },
    });
    const rollouts = new RolloutManager(store, images, now);
    const gatewayLogger = componentLogger('gateway');
    const resourceLogger = protocolLogger(gatewayLogger);
    const bakes = new BakeAlarms(now, (updateId) => router.notify(gatewayPath.update(updateId), gatewayPath.status(updateId)));
    addUpdateResources({ router, store, images, rollouts, alerts, logger: resourceLogger, publisherKey, gatewayRttMs: (id) => nodeLink.rttMs(id), now, bakes });
    const history = new MetricsHistory(store, { now });
    const reports = new NodeReports({ store, presence, alerts, history, router, now });
    const monitor = new NodeMonitor({ nodeLink, reports, logger: protocolLogger(componentLogger('monitor')) });
    const systemConfig = new SystemConfig({
      origin, dataDir, config, overlay,
      apply: (running) => {
        setLevel(running.log_level);
        alerts.setRules(alertRules(running));
        presence.configure(presenceTiming(running));
        logger.info({ log_level: running.log_level, ...presenceTiming(running) }, 'configuration changed');
      },
    });
    addNodeResources({ router, store, presence, alerts, reports, history, logger: resourceLogger, now, onRegistered: (nodeId, peer) => nodeLink.seen(nodeId, peer) });
    addMetricsResources({ router, store, history, reports, now });
    addAlertResources({ router, alerts });
    addAuditResources({ router, store });
    if (enrollment !== undefined) addEnrollmentResources({ router, enrollment });
    addRevocationResources({ router, store, now, logger: resourceLogger, endSessions: (matches) => endCertificateSessions(endpoints, matches) });
    const forwardLogger = protocolLogger(componentLogger('forward'));
    const forwarder = new Forwarder({
      nodeLink, getNode: (id) => store.getNode(id), cache: new ResponseCache(() => now().getTime()), audit, now, logger: forwardLogger,
    });
    const observations = new SharedObservations({ nodeLink, router, forwarder, logger: forwardLogger, timeoutMs: config.node_timeout_ms });
    addForwardedResources({ router, forwarder, observations });
    router.setProxyResolver(nodeProxy((id) => store.getNode(id), () => store.listNodes()));
    addSystemResources({ router, store, systemConfig, now, requestStop: (request) => gateway.requestStop(request) });
    presence.start();
    // Every resource is in place: until now a request got 5.03, Max-Age 1 (endpoints.ts).
    for (const endpoint of endpointList(endpoints)) endpoint.serve();
    const gateway: Gateway = new Gateway({ store, images, router, endpoints, presence, logger, lifecycleLogger: gatewayLogger, systemConfig, monitor, observations, bakes, dashboard });
    const addresses = gateway.addresses();
    logger.info({
      coap: addresses.coap === undefined ? null : `coap://${formatPeer(addresses.coap)}`,
      coaps: addresses.coaps === undefined ? null : `coaps://${formatPeer(addresses.coaps)}`,
      ...(addresses.est === undefined ? {} : { est: `coaps://${formatPeer(addresses.est)}` }),
      ...(dashboard === undefined ? {} : { dashboard: dashboard.url() }),
      data_dir: config.data_dir, allow_local_plain: config.allow_local_plain, publisher_key: publisherKey !== undefined,
      nodes: store.listNodes().length, updates: store.listUpdates().length,
    }, 'gateway listening');
    return gateway;
  }

  addresses(): { coap?: PeerAddress; coaps?: PeerAddress; est?: PeerAddress; dashboard?: PeerAddress } {
    return {
      ...(this.#dashboard === undefined ? {} : { dashboard: this.#dashboard.address() }),
      ...(this.#endpoints.coap === undefined ? {} : { coap: this.#endpoints.coap.address() }),
      ...(this.#endpoints.coaps === undefined ? {} : { coaps: this.#endpoints.coaps.address() }),
      ...(this.#endpoints.est === undefined ? {} : { est: this.#endpoints.est.address() }),
    };
  }

  /** Resolves when an operator asked the process to restart or shut down (POST
   * /system/restart, /system/shutdown); the gateway is stopping by then. */
  get stopRequested(): Promise<StopRequest> {
    return this.#stopRequest;
  }

  /** Stops gracefully once the answer to the request that asked is sent: the stop waits
   * for running handlers, that one among them. */
  requestStop(request: StopRequest): void {
    this.#logger.info({ request }, `${request} requested`);
    this.#resolveStopRequest(request);
    void this.stop();
  }

  /** Stops gracefully; calling it again waits for the same stop. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#lifecycle.transition('stopping');
    const graceMs = this.#systemConfig.running.shutdown_grace_ms;
    const unfinished = await this.router.drain(graceMs);
    if (unfinished > 0) this.#logger.warn({ unfinished, grace_ms: graceMs }, 'requests still running at stop');
    await responsesSent();
    this.#observations.close();
    await Promise.all(allEndpoints(this.#endpoints).map((endpoint) => endpoint.close()));
    await this.#dashboard?.close();
    await this.store.close();
    this.#lifecycle.transition('stopped');
  }

  get state(): GatewayState {
    return this.#lifecycle.state;
  }
}

/** The offline detector's timing from the settings. */
const presenceTiming = (config: GatewayConfig): { offlineAfterMs: number; sweepIntervalMs: number } => ({
  offlineAfterMs: config.health_interval_s * config.offline_after_intervals * 1000,
  sweepIntervalMs: config.health_interval_s * 1000,
});

/** Resolves once the responses of the handlers that just finished are on the wire. They
 * are not yet when drain() resolves: the endpoint sends a response a few promise reactions
 * after its handler settles, and dgram's send() hands the datagram to the socket one tick
 * later still (its address lookup answers on the next tick even for an IP address); a
 * socket closed before then drops it without a word. Both are queued work of this turn of
 * the event loop, and setImmediate runs after all of it. (The transports do not report
 * their sends drained; the DTLS transport's close() waits the same way for its
 * close_notify datagrams.) */
function responsesSent(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Failed DTLS handshakes (a wrong key, an unknown identity, a certificate we do not trust)
 * go to the audit log beside denied requests (DESIGN §6); the transport already chose
 * which to record (the first per address in a window) and logged them at warn. */
function auditHandshakeFailures(endpoints: GatewayEndpoints, audit: (entry: AuditEntry) => void, now: () => Date): void {
  if (!(endpoints.coaps instanceof DtlsEndpoint)) return;
  endpoints.coaps.transport.onHandshakeError((error, peer, record) => {
    if (record === undefined) return;
    const unrecorded = record.suppressed > 0 ? `; ${record.suppressed} more from this address not recorded` : '';
    audit({ at: now().toISOString(), who: whoOf(undefined, peer), action: 'dtls.handshake_failed', target: '/', detail: `${error.code}: ${error.message}${unrecorded}` });
  });
}

/** "-----BEGIN PRIVATE KEY-----", and the EC, RSA, ENCRYPTED… variants. */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** An empty state beside stored images: data.mdb deleted or replaced. Not refused (an
 * operator may have reset it on purpose), but said loudly: the updates those images
 * belonged to are gone. */
async function warnOfLostState(store: GatewayStore, images: ImageStore, dataDir: string, logger: ServerLogger): Promise<void> {
  if (store.listUpdates().length > 0 || store.listNodes().length > 0) return;
  const stored = await images.count();
  if (stored === 0) return;
  logger.warn({ data_dir: dataDir, images: stored }, `the state store is empty but ${stored} image(s) are stored: was state/data.mdb deleted or replaced? every update and node registration is gone`);
}

async function loadPublisherKey(path: string): Promise<KeyObject> {
  const pem = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`publisher_key_file: cannot read ${path}: ${error.code ?? error.message}`);
  });
  // createPublicKey takes a private key too and derives the public half; but a signing key
  // on the gateway is one a compromise hands over (DESIGN §6), so it is refused.
  if (PRIVATE_KEY_PEM.test(pem)) {
    throw new ConfigError(`publisher_key_file: ${path} is a private key; give the publisher's public key (publisher.pub from keys generate) and keep the private one offline`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new ConfigError(`publisher_key_file: ${path} is not a PEM public key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`publisher_key_file: ${path} holds a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}
