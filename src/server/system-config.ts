// The gateway's own configuration at run time (DESIGN §5 /system/config): what it runs
// with, and a change checked by the config loader itself (the candidate is the start's
// sources with the new overlay: every rule the loader has, and only those), persisted in
// the overlay (config-overlay.ts) and applied at once where the gateway can: the log
// level, the alert thresholds, the health and offline intervals, the stop's grace. The
// others (addresses, ports, credentials, files, the audit bound…) are kept for the next
// start and said so. A setting the environment or a flag gives wins at the next start, as
// it did at this one.

import { ALERT_KEYS } from './alert-settings.js';
import { fixedSettings, GATEWAY_FIELDS, loadConfig, type ConfigSources, type GatewayConfig } from './config.js';
import { overlayPath, writeOverlay } from './config-overlay.js';
import { ConfigError } from './errors.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { objectBody } from './replies.js';

type Key = keyof GatewayConfig;

/** Applied without a restart. */
export const LIVE_KEYS: readonly Key[] = ['log_level', 'shutdown_grace_ms', 'health_interval_s', 'offline_after_intervals', ...ALERT_KEYS];

/** Settings a PUT may change: all but data_dir, where the overlay itself is kept. */
export const CHANGEABLE_KEYS = (Object.keys(GATEWAY_FIELDS) as Key[]).filter((key) => key !== 'data_dir');

/** Where the configuration came from: the command line's sources, or (a gateway started
 * with a config object, as the tests do) that object, which is then the base layer. */
export type ConfigOrigin = { readonly sources: ConfigSources } | { readonly config: GatewayConfig };

/** The configuration from `origin` with `overlay` laid over it; a ConfigError names every problem. */
export function loadWithOverlay(origin: ConfigOrigin, dataDir: string, overlay: Readonly<Record<string, unknown>>): Promise<GatewayConfig> {
  const from = overlayPath(dataDir);
  if ('sources' in origin) {
    const { file, env, flags, cwd } = origin.sources;
    return loadConfig({ file, env, flags, cwd, overlay: { values: overlay, from, base: cwd } });
  }
  return loadConfig({ env: {}, flags: {}, cwd: process.cwd(), overlay: { values: { ...origin.config, ...overlay }, from, base: process.cwd() } });
}

/** GET /system/config. The configuration holds no secret itself, only where secrets are
 * (psk_file, key_file: paths, shown; their contents never are). */
export interface SystemConfigView {
  readonly settings: Readonly<Record<string, unknown>>;
  /** The settings a change applies to at once. */
  readonly live: readonly string[];
  /** Changed and kept, applied at the next start: the value it will have. */
  readonly pending: Readonly<Record<string, unknown>>;
}

/** PUT /system/config's answer. */
export interface SystemConfigChange extends SystemConfigView {
  /** Changed by this request and applied at once. */
  readonly applied: readonly string[];
  /** Every changed setting that waits for a restart, this request's and earlier ones'. */
  readonly at_restart: readonly string[];
}

export interface SystemConfigOptions {
  readonly origin: ConfigOrigin;
  readonly dataDir: string;
  /** The configuration the gateway started with (the overlay applied) and the overlay. */
  readonly config: GatewayConfig;
  readonly overlay: Readonly<Record<string, unknown>>;
  /** Applies the live settings of `config` (the others are as they were). */
  readonly apply: (config: GatewayConfig) => void;
}

export class SystemConfig {
  readonly #options: SystemConfigOptions;
  #running: GatewayConfig;
  /** What the next start will run with. */
  #next: GatewayConfig;
  #overlay: Readonly<Record<string, unknown>>;
  /** Given by the environment or a flag: not changeable here (they would win again). */
  readonly #fixed: readonly string[];
  /** Changes one at a time: each is checked against the overlay the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: SystemConfigOptions) {
    this.#options = options;
    this.#running = options.config;
    this.#next = options.config;
    this.#overlay = options.overlay;
    this.#fixed = 'sources' in options.origin ? fixedSettings(options.origin.sources) : [];
  }

  get running(): GatewayConfig {
    return this.#running;
  }

  view(): SystemConfigView {
    const pending = Object.fromEntries((Object.keys(this.#next) as Key[])
      .filter((key) => this.#next[key] !== this.#running[key]).map((key) => [key, this.#next[key]]));
    return { settings: { ...this.#running }, live: LIVE_KEYS, pending };
  }

  /** Checks, persists and applies `body` (settings by name); 4.00 naming every problem. */
  change(body: unknown): Promise<SystemConfigChange> {
    const result = this.#queue.then(() => this.#change(body));
    this.#queue = result.catch(() => {});
    return result;
  }

  async #change(body: unknown): Promise<SystemConfigChange> {
    const settings = objectBody(body, CHANGEABLE_KEYS);
    const fixed = Object.keys(settings).filter((key) => this.#fixed.includes(key));
    if (fixed.length > 0) {
      const message = `${fixed.join(', ')}: given by the environment or a flag, which would win again at the next start; change ${fixed.length === 1 ? 'it' : 'them'} there`;
      throw new ResponseError(ResponseCode.BadRequest, message, { diagnostic: message });
    }
    const overlay = { ...this.#overlay, ...settings };
    let next: GatewayConfig;
    try {
      next = await loadWithOverlay(this.#options.origin, this.#options.dataDir, overlay);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new ResponseError(ResponseCode.BadRequest, error.message, { diagnostic: error.message.slice(0, 1000) });
    }
    try {
      await writeOverlay(this.#options.dataDir, overlay);
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ResponseError(ResponseCode.ServiceUnavailable, `the config overlay not written: ${why}`, { diagnostic: `cannot keep the change (${why}); nothing changed`, maxAge: 30 });
    }
    this.#overlay = overlay;
    this.#next = next;
    const changed = (Object.keys(next) as Key[]).filter((key) => next[key] !== this.#running[key]);
    const applied = changed.filter((key) => LIVE_KEYS.includes(key));
    if (applied.length > 0) {
      this.#running = { ...this.#running, ...Object.fromEntries(applied.map((key) => [key, next[key]])) };
      this.#options.apply(this.#running);
    }
    return { ...this.view(), applied, at_restart: changed.filter((key) => !LIVE_KEYS.includes(key)) };
  }
}
