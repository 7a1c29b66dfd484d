// The gateway daemon put together (DESIGN §1): state store, firmware store, rollout manager,
// presence, and the resources on the endpoints behind the access table; and its graceful
// stop: refuse new requests, let running ones finish (bounded), close the endpoints, flush
// and close LMDB. The state store is checked before it is opened (fleet/store-check.ts).

import { createPublicKey, type KeyObject } from 'node:crypto';
import { DtlsEndpoint } from '../dtls/dtls-endpoint.js';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LogThrottle } from '../fleet/log-throttle.js';
import { GatewayRoute, gatewayPath } from '../fleet/paths.js';
import { checkStore } from '../fleet/store-check.js';
import type { StoreWriteError } from '../fleet/errors.js';
import { formatPeer, type PeerAddress } from '../protocol/interfaces.js';
import type { GatewayConfig } from './config.js';
import { endpointList, openEndpoints, type GatewayEndpoints } from './endpoints.js';
import { ConfigError, StateUnavailable } from './errors.js';
import { GatewayLifecycle, type GatewayState } from './gateway-lifecycle.js';
import { ImageStore } from './image-store.js';
import { protocolLogger, type DaemonLogger as ServerLogger } from '../fleet/logger.js';
import { NodeLink } from './node-link.js';
import { Presence } from './presence.js';
import type { AuditEntry } from './records.js';
import { addAlertResources } from './resources-alerts.js';
import { Alerts } from './alerts.js';
import { addAuditResources } from './resources-audit.js';
import { Forwarder } from './forwarder.js';
import { nodeProxy } from './node-proxy.js';
import { addForwardedResources } from './resources-forwarded.js';
import { addNodeResources } from './resources-nodes.js';
import { ResponseCache } from './response-cache.js';
import { SharedObservations } from './shared-observations.js';
import { addUpdateResources } from './resources-updates.js';
import { RolloutManager } from './rollout-manager.js';
import { GatewayRouter, whoOf } from './routing.js';
import { GatewayStore } from './store.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
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
  readonly #endpoints: GatewayEndpoints;
  readonly #presence: Presence;
  readonly #observations: SharedObservations;
  readonly #logger: ServerLogger;
  readonly #config: GatewayConfig;
  readonly #lifecycle: GatewayLifecycle;
  #stopped: Promise<void> | undefined;

  private constructor(parts: {
    store: GatewayStore; images: ImageStore; router: GatewayRouter; endpoints: GatewayEndpoints; presence: Presence;
    observations: SharedObservations; logger: ServerLogger; config: GatewayConfig;
  }) {
    this.store = parts.store;
    this.images = parts.images;
    this.router = parts.router;
    this.#endpoints = parts.endpoints;
    this.#presence = parts.presence;
    this.#observations = parts.observations;
    this.#logger = parts.logger;
    this.#config = parts.config;
    this.#lifecycle = new GatewayLifecycle(protocolLogger(parts.logger.child({ component: 'gateway' })), {
      stopping: () => this.#presence.stop(),
      stopped: () => this.#logger.info('gateway stopped'),
    });
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config, logger } = options;
    const now = options.now ?? (() => new Date());
    try {
      await mkdir(config.data_dir, { recursive: true });
    } catch (error) {
      throw new ConfigError(`data_dir: cannot create ${config.data_dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const publisherKey = config.publisher_key_file === null ? undefined : await loadPublisherKey(config.publisher_key_file);
    const writeFailures = new LogThrottle(WRITE_FAILURE_LOG_INTERVAL_MS);
    const onWriteFailure = (error: StoreWriteError): void => {
      writeFailures.take((suppressed) => logger.error({ err: error, suppressed }, 'a write refused by the disk; answering 5.03'));
    };
    const images = await ImageStore.open(join(config.data_dir, 'images'), onWriteFailure, protocolLogger(logger.child({ component: 'images' })));
    const stateDir = join(config.data_dir, 'state');
    await checkStore(stateDir, { databases: GatewayStore.DATABASES });
    const store = await GatewayStore.open(stateDir, { auditMaxEntries: config.audit_max_entries, onWriteFailure });
    await warnOfLostState(store, images, config.data_dir, logger);
    let endpoints: GatewayEndpoints;
    try {
      endpoints = options.endpoints ?? await openEndpoints(config, protocolLogger(logger.child({ component: 'coap' })));
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
    const nodeLink = new NodeLink(endpoints.coaps, { logger: protocolLogger(logger.child({ component: 'node-link' })), limits: { timeoutMs: config.node_timeout_ms } });
    const router = new GatewayRouter(endpointList(endpoints), {
      onNodeRequest: (nodeId, peer) => nodeLink.seen(nodeId, peer),
      logger: protocolLogger(logger.child({ component: 'access' })),
      authorization: { allowLocalPlain: config.allow_local_plain, targetsOf: (id) => store.getUpdate(id)?.manifest.target_nodes },
      audit,
      now,
    });
    const alerts = new Alerts(store, { now, logger: protocolLogger(logger.child({ component: 'alerts' })), onChange: () => router.notify(GatewayRoute.alerts) });
    const presence = new Presence(store, {
      offlineAfterMs: config.health_interval_s * config.offline_after_intervals * 1000,
      sweepIntervalMs: config.health_interval_s * 1000,
      now,
      logger: protocolLogger(logger.child({ component: 'presence' })),
      onChange: (nodeId, to) => {
        const online = to === 'online';
        if (online) logger.info({ node: nodeId }, 'node back online');
        else logger.warn({ node: nodeId }, 'node offline');
        audit({ at: now().toISOString(), who: 'gateway', action: online ? 'node.online' : 'node.offline', target: gatewayPath.node(nodeId) });
        router.notify(GatewayRoute.nodes, gatewayPath.node(nodeId), gatewayPath.health(nodeId));
        void alerts.presenceChanged(nodeId, online);
      },
    });
    const rollouts = new RolloutManager(store, images, now);
    const resourceLogger = protocolLogger(logger.child({ component: 'gateway' }));
    addUpdateResources({ router, store, images, rollouts, alerts, logger: resourceLogger, publisherKey });
    addNodeResources({ router, store, presence, alerts, logger: resourceLogger, now });
    addAlertResources({ router, alerts });
    addAuditResources({ router, store });
    const forwardLogger = protocolLogger(logger.child({ component: 'forward' }));
    const forwarder = new Forwarder({
      nodeLink, getNode: (id) => store.getNode(id), cache: new ResponseCache(() => now().getTime()), audit, now, logger: forwardLogger,
    });
    const observations = new SharedObservations({ nodeLink, router, forwarder, logger: forwardLogger, timeoutMs: config.node_timeout_ms });
    addForwardedResources({ router, forwarder, observations });
    router.setProxyResolver(nodeProxy((id) => store.getNode(id), () => store.listNodes()));
    presence.start();
    const gateway = new Gateway({ store, images, router, endpoints, presence, observations, logger, config });
    const addresses = gateway.addresses();
    logger.info({
      coap: addresses.coap === undefined ? null : `coap://${formatPeer(addresses.coap)}`,
      coaps: addresses.coaps === undefined ? null : `coaps://${formatPeer(addresses.coaps)}`,
      data_dir: config.data_dir, allow_local_plain: config.allow_local_plain, publisher_key: publisherKey !== undefined,
      nodes: store.listNodes().length, updates: store.listUpdates().length,
    }, 'gateway listening');
    return gateway;
  }

  addresses(): { coap?: PeerAddress; coaps?: PeerAddress } {
    return {
      ...(this.#endpoints.coap === undefined ? {} : { coap: this.#endpoints.coap.address() }),
      ...(this.#endpoints.coaps === undefined ? {} : { coaps: this.#endpoints.coaps.address() }),
    };
  }

  /** Stops gracefully; calling it again waits for the same stop. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#lifecycle.transition('stopping');
    const unfinished = await this.router.drain(this.#config.shutdown_grace_ms);
    if (unfinished > 0) this.#logger.warn({ unfinished, grace_ms: this.#config.shutdown_grace_ms }, 'requests still running at stop');
    await responsesSent();
    this.#observations.close();
    await Promise.all(endpointList(this.#endpoints).map((endpoint) => endpoint.close()));
    await this.store.close();
    this.#lifecycle.transition('stopped');
  }

  get state(): GatewayState {
    return this.#lifecycle.state;
  }
}

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
