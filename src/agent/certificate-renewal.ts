// Keeping the node's certificate fresh (RFC 9148 re-enrollment; DESIGN §6): at the
// configured share of its validity the agent asks /sren over its running session for a
// certificate with a new key, keeps both, and hands them to its DTLS transport for the
// handshakes to come; the session it has stays up. A failure is retried on the retry ladder.

import { DtlsEndpoint } from '../dtls/index.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import { retryDelay } from './backoff.js';
import type { EnrollmentSettings } from './config.js';
import { reenroll, reenrollDelayMs } from './enrollment.js';
import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer wait is taken in steps. */
const MAX_TIMER_MS = 2_147_483_647;

export class CertificateRenewal {
  readonly #endpoint: Endpoint;
  readonly #gateway: string;
  readonly #settings: EnrollmentSettings;
  readonly #nodeId: string;
  readonly #log: AgentLogger;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #stopped = false;

  constructor(options: { endpoint: Endpoint; gateway: string; settings: EnrollmentSettings; nodeId: string; log: AgentLogger; clock: Clock }) {
    this.#endpoint = options.endpoint;
    this.#gateway = options.gateway;
    this.#settings = options.settings;
    this.#nodeId = options.nodeId;
    this.#log = options.log;
    this.#clock = options.clock;
  }

  /** Schedules the renewal of `certificatePem` (the one the agent runs on). */
  start(certificatePem: string): void {
    this.#schedule(reenrollDelayMs(certificatePem, this.#settings.reenrollAtPercent, Date.now()));
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    const step = Math.min(delayMs, MAX_TIMER_MS);
    this.#timer = this.#clock.setTimeout(() => {
      if (step < delayMs) this.#schedule(delayMs - step);
      else void this.#renew();
    }, step);
  }

  async #renew(): Promise<void> {
    try {
      const renewed = await reenroll(this.#endpoint, this.#gateway, this.#settings, this.#nodeId);
      if (this.#endpoint instanceof DtlsEndpoint && renewed.mode === 'certificate') this.#endpoint.transport.replaceOwnCertificate(renewed.cert, renewed.key);
      this.#failures = 0;
      this.#log.info({ cert_file: this.#settings.certFile }, 'certificate renewed (re-enrolled)');
      if (renewed.mode === 'certificate') this.start(renewed.cert);
    } catch (error) {
      const delayMs = retryDelay(this.#failures++);
      this.#log.warn({ err: error, retry_in_ms: delayMs }, 're-enrollment failed');
      this.#schedule(delayMs);
    }
  }
}
