// One side of the CoAP-vs-MQTT comparison as the benchmark sees it: its processes (to read
// their CPU and memory from /proc), the counting proxies all node traffic passes through,
// and the two things the benchmark asks of it, announce an update and tell how many nodes
// have installed it. mqtt-side-coap.ts and mqtt-side-mqtt.ts are the two.

import type { Image } from '../../src/operator/image-file.js';
import type { BenchCredentials } from './mqtt-credentials.js';
import type { CountingProxy } from './mqtt-counting-proxy.js';

/** How long a side may take to start and have every node registered: generous, because
 * the machine these run on is shared and five Node.js agents start at once. */
export const STARTUP_TIMEOUT_MS = 120_000;

/** Polls `probe` every 200 ms until it says yes; fails at once when `checkAlive` throws,
 * and after `timeoutMs` with the probe's last error. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, checkAlive: () => void, timeoutMs = STARTUP_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    checkAlive();
    try {
      if (await probe()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms${last === undefined ? '' : `: ${(last as Error).message}`}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Our agent's default metrics_interval_s: both sides' agents send a metrics sample this often. */
export const METRICS_INTERVAL_S = 30;

export interface SideOptions {
  /** This side's own temporary directory (data, configs, logs). */
  readonly dir: string;
  readonly credentials: BenchCredentials;
  readonly nodeIds: readonly string[];
  readonly healthIntervalS: number;
}

export interface UpdateProgress {
  readonly downloaded: number;
  readonly installed: number;
}

export interface ComparedSide {
  readonly impl: string;
  readonly agentPids: readonly number[];
  /** The server-side processes: `gateway`, and `broker` on the MQTT side. */
  readonly serverPids: ReadonlyMap<string, number>;
  /** Every byte between the agents and the server side goes through these. */
  readonly proxies: readonly CountingProxy[];
  /** Makes `image` available to the nodes as `version` and announces it to every node;
   * resolves when the nodes can fetch it. The operator's upload, on our side, is part of
   * this, and not of the traffic the proxies count. */
  publish(image: Image, updateId: string, version: string): Promise<void>;
  /** How many nodes report `updateId` downloaded (or a later state), and installed. */
  progress(updateId: string): Promise<UpdateProgress>;
  /** Throws when a process of the side has died. */
  checkAlive(): void;
  close(): Promise<void>;
}
