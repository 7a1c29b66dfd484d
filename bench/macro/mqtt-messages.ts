// What the MQTT side's processes say to each other: the JSON payloads on the broker's
// topics (mqtt-broker.ts `topics`), the config file each child reads, and the IPC between
// the benchmark and the MQTT gateway.

import type { Manifest } from '../../src/fleet/manifest.js';

/** `fleet/<CN>/node`, retained: the node's registration (our POST /nodes). */
export interface NodeRecord {
  readonly node_id: string;
  readonly version: string;
  readonly hardware: string;
}

/** `fleet/<CN>/status`: the node's state of an update (our PUT /updates/{id}/status). */
export interface StatusMessage {
  readonly update_id: string;
  readonly state: 'downloading' | 'downloaded' | 'installing' | 'installed' | 'failed';
  readonly error: string | null;
}

/** `fleet/updates`, retained: the signed manifest and where the image is. */
export interface UpdateAnnouncement {
  readonly manifest: Manifest;
  readonly url: string;
}

export interface GatewayConfig {
  readonly brokerPort: number;
  /** The root the broker's certificate chains to. */
  readonly caFile: string;
  /** Root + intermediate: what the image server verifies nodes against. */
  readonly caBundle: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Images named by their sha256. */
  readonly imagesDir: string;
}

export interface AgentConfig {
  readonly nodeId: string;
  readonly brokerPort: number;
  readonly caFile: string;
  readonly cert: string;
  readonly key: string;
  readonly dataDir: string;
  readonly publisherKey: string;
  readonly initialVersion: string;
  readonly healthIntervalS: number;
  readonly metricsIntervalS: number;
}

export type GatewayCommand =
  | { readonly kind: 'announce'; readonly manifest: Manifest; readonly url: string }
  | { readonly kind: 'query' };

export interface GatewayStats {
  readonly kind: 'stats';
  readonly nodes: Readonly<Record<string, { readonly version: string | null; readonly updates: Readonly<Record<string, string>> }>>;
}

export type GatewayEvent = { readonly kind: 'ready'; readonly httpsPort: number } | GatewayStats;

