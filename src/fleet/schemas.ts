// The payloads nodes send (DESIGN §5), checked field by field: a bad one is a 4.00 naming
// what is wrong, never a crash or a half-stored record.

import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { TRANSFER_BOUNDS, type TransferReport } from './link-quality.js';
import type { DiskFigures, MetricsSample, NetworkFigures } from './node-views.js';
import { isValidId } from './paths.js';
import { isNodeUpdateState, type NodeUpdateState } from './update-state.js';
import { isValidVersion } from './version.js';

export interface NodeRegistration {
  readonly node_id: string;
  readonly version: string;
  readonly hardware: string;
  /** The agent's own CoAP port, for the gateway's proxy; 0 when it serves none. */
  readonly agent_port: number;
  /** RFC 3339: when this agent process started. A new value in a later registration means
   * the agent restarted (a reboot also shows as uptime going down); absent from agents of
   * earlier releases. */
  readonly agent_started_at?: string;
}

export const HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface HealthReport {
  readonly status: HealthStatus;
  readonly cpu_percent: number;
  readonly memory_percent: number;
  /** °C, null on a machine without a sensor. */
  readonly temperature: number | null;
  readonly uptime_s: number;
  readonly timestamp: string;
}

export interface StatusReport {
  readonly state: NodeUpdateState;
  readonly progress: number;
  readonly error: string | null;
  /** The download's figures (adaptive transfer); absent from agents of earlier releases
   * and outside `downloading` and `downloaded`. */
  readonly transfer?: TransferReport;
}

type Fields = Record<string, unknown>;

function objectOf(input: unknown): Fields {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw bad(['body must be an object']);
  return input as Fields;
}

function bad(problems: string[]): ResponseError {
  return new ResponseError(ResponseCode.BadRequest, problems.join('; '), { diagnostic: problems.join('; ').slice(0, 200) });
}

const isNumberIn = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;

const isShortText = (value: unknown, max = 128): value is string => typeof value === 'string' && value.length <= max;

export function parseRegistration(input: unknown): NodeRegistration {
  const value = objectOf(input);
  const problems: string[] = [];
  if (typeof value.node_id !== 'string' || !isValidId(value.node_id)) problems.push('node_id: 1-64 of [A-Za-z0-9._-]');
  if (typeof value.version !== 'string' || !isValidVersion(value.version)) problems.push('version: like 2.1.0');
  if (!isShortText(value.hardware ?? '')) problems.push('hardware: text up to 128 characters');
  const port = value.agent_port ?? 0;
  if (!Number.isInteger(port) || !isNumberIn(port, 0, 65535)) problems.push('agent_port: 0..65535');
  const started = value.agent_started_at;
  if (started !== undefined && (typeof started !== 'string' || started.length > 40 || Number.isNaN(Date.parse(started)))) problems.push('agent_started_at: RFC 3339');
  if (problems.length > 0) throw bad(problems);
  return {
    node_id: value.node_id as string, version: value.version as string, hardware: (value.hardware ?? '') as string, agent_port: port as number,
    ...(started === undefined ? {} : { agent_started_at: started as string }),
  };
}

export function parseHealth(input: unknown): HealthReport {
  const value = objectOf(input);
  const problems: string[] = [];
  if (!(HEALTH_STATUSES as readonly unknown[]).includes(value.status)) problems.push(`status: one of ${HEALTH_STATUSES.join(', ')}`);
  if (!isNumberIn(value.cpu_percent, 0, 100)) problems.push('cpu_percent: 0..100');
  if (!isNumberIn(value.memory_percent, 0, 100)) problems.push('memory_percent: 0..100');
  if (value.temperature !== null && value.temperature !== undefined && !isNumberIn(value.temperature, -100, 250)) problems.push('temperature: -100..250 or null');
  if (value.uptime_s !== undefined && !isNumberIn(value.uptime_s, 0, 1e10)) problems.push('uptime_s: seconds');
  if (typeof value.timestamp !== 'string' || Number.isNaN(Date.parse(value.timestamp))) problems.push('timestamp: ISO 8601');
  if (problems.length > 0) throw bad(problems);
  return {
    status: value.status as HealthStatus, cpu_percent: value.cpu_percent as number, memory_percent: value.memory_percent as number,
    temperature: (value.temperature ?? null) as number | null, uptime_s: (value.uptime_s ?? 0) as number, timestamp: value.timestamp as string,
  };
}

export function parseStatusReport(input: unknown): StatusReport {
  const value = objectOf(input);
  const problems: string[] = [];
  if (!isNodeUpdateState(value.state)) problems.push('state: pending, downloading, downloaded, installing, installed, failed or rolled_back');
  const progress = value.progress ?? 0;
  if (!isNumberIn(progress, 0, 1)) problems.push('progress: 0..1');
  const error = value.error ?? null;
  if (error !== null && !isShortText(error, 512)) problems.push('error: text up to 512 characters or null');
  const transfer = value.transfer ?? undefined;
  if (transfer !== undefined) problems.push(...transferProblems(transfer));
  if (problems.length > 0) throw bad(problems);
  return {
    state: value.state as NodeUpdateState, progress: progress as number, error: error as string | null,
    ...(transfer === undefined ? {} : { transfer: transferOf(transfer as Fields) }),
  };
}

const BLOCK_SIZES = [16, 32, 64, 128, 256, 512, 1024];

function transferProblems(input: unknown): string[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return ['transfer: an object or null'];
  const value = input as Fields;
  const problems: string[] = [];
  if (!BLOCK_SIZES.includes(value.block_size as number)) problems.push('transfer.block_size: 16, 32, … 1024');
  if (!Number.isInteger(value.window) || !isNumberIn(value.window, 1, TRANSFER_BOUNDS.maxWindow)) problems.push(`transfer.window: 1..${TRANSFER_BOUNDS.maxWindow}`);
  if (value.rtt_ms !== null && !isNumberIn(value.rtt_ms, 0, TRANSFER_BOUNDS.maxRttMs)) problems.push('transfer.rtt_ms: milliseconds or null');
  if (!isNumberIn(value.loss, 0, 1)) problems.push('transfer.loss: 0..1');
  return problems;
}

/** Only the known fields, so a report cannot store anything else. */
const transferOf = (value: Fields): TransferReport => ({
  block_size: value.block_size as number, window: value.window as number, rtt_ms: value.rtt_ms as number | null, loss: value.loss as number,
});

/** Mounts and interfaces in one metrics sample; a machine with more reports the first ones. */
export const MAX_METRICS_ENTRIES = 64;

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** One MetricsSample (fleet/node-views.ts), checked field by field; `where` prefixes the problems. */
export function parseMetricsSample(input: unknown, where = ''): MetricsSample {
  const value = objectOf(input);
  const problems: string[] = [];
  const problem = (text: string): void => { problems.push(`${where}${text}`); };
  if (typeof value.at !== 'string' || Number.isNaN(Date.parse(value.at))) problem('at: RFC 3339');
  if (!isNumberIn(value.cpu_percent, 0, 100)) problem('cpu_percent: 0..100');
  if (!isNumberIn(value.memory_percent, 0, 100)) problem('memory_percent: 0..100');
  if (!isCount(value.memory_total_bytes) || !isCount(value.memory_available_bytes)) problem('memory_total_bytes, memory_available_bytes: bytes');
  if (!Array.isArray(value.load) || value.load.length !== 3 || !value.load.every((load) => isNumberIn(load, 0, 1e6))) problem('load: [1 min, 5 min, 15 min]');
  if (value.temperature !== null && !isNumberIn(value.temperature, -100, 250)) problem('temperature: -100..250 or null');
  if (!isNumberIn(value.uptime_s, 0, 1e10)) problem('uptime_s: seconds');
  const disks = Array.isArray(value.disks) ? value.disks as unknown[] : undefined;
  const diskOk = (disk: unknown): boolean => typeof disk === 'object' && disk !== null && isShortText((disk as Fields).mount, 256)
    && isCount((disk as Fields).total_bytes) && isCount((disk as Fields).free_bytes) && isNumberIn((disk as Fields).used_percent, 0, 100);
  if (disks === undefined || disks.length > MAX_METRICS_ENTRIES || !disks.every(diskOk)) problem(`disks: up to ${MAX_METRICS_ENTRIES} of {mount, total_bytes, free_bytes, used_percent}`);
  const network = Array.isArray(value.network) ? value.network as unknown[] : undefined;
  const interfaceOk = (entry: unknown): boolean => typeof entry === 'object' && entry !== null && isShortText((entry as Fields).iface, 64)
    && isCount((entry as Fields).rx_bytes) && isCount((entry as Fields).tx_bytes);
  if (network === undefined || network.length > MAX_METRICS_ENTRIES || !network.every(interfaceOk)) problem(`network: up to ${MAX_METRICS_ENTRIES} of {iface, rx_bytes, tx_bytes}`);
  if (problems.length > 0) throw bad(problems);
  // Rebuilt, so a stored sample holds these fields and no others.
  return {
    at: value.at as string, cpu_percent: value.cpu_percent as number, memory_total_bytes: value.memory_total_bytes as number,
    memory_available_bytes: value.memory_available_bytes as number, memory_percent: value.memory_percent as number,
    load: value.load as [number, number, number], temperature: value.temperature as number | null, uptime_s: value.uptime_s as number,
    disks: (disks as DiskFigures[]).map(({ mount, total_bytes, free_bytes, used_percent }) => ({ mount, total_bytes, free_bytes, used_percent })),
    network: (network as NetworkFigures[]).map(({ iface, rx_bytes, tx_bytes }) => ({ iface, rx_bytes, tx_bytes })),
  };
}

/** Samples in one metrics body (fleet/node-views.ts): a MetricsView or a single MetricsSample. */
export interface MetricsBody {
  readonly samples: readonly MetricsSample[];
  /** The agent's sampling interval when the body says it (a MetricsView). */
  readonly interval_s?: number;
}

/** Samples one body may carry: an agent's whole kept history at most. */
export const MAX_METRICS_SAMPLES = 1000;

/** A node's metrics body: a MetricsView (its node_id must be `nodeId`) or one MetricsSample. */
export function parseMetricsBody(input: unknown, nodeId: string): MetricsBody {
  const value = objectOf(input);
  if (!('samples' in value)) return { samples: [parseMetricsSample(value)] };
  const problems: string[] = [];
  if (value.node_id !== nodeId) problems.push(`node_id: ${nodeId}`);
  if (!isNumberIn(value.interval_s, 0, 86_400)) problems.push('interval_s: seconds');
  if (!Array.isArray(value.samples) || value.samples.length > MAX_METRICS_SAMPLES) problems.push(`samples: a list of up to ${MAX_METRICS_SAMPLES}`);
  if (problems.length > 0) throw bad(problems);
  return { samples: (value.samples as unknown[]).map((sample, index) => parseMetricsSample(sample, `samples[${index}].`)), interval_s: value.interval_s as number };
}
