// How `coap-fleet node` shows a node to people: its health, latest metrics sample (with
// disks and interfaces), services, settings, log lines and a command's result, as tables
// (formatTable) or key/value rows. Every text that came from the node is made one line of
// printable characters first: a log message must not drive the operator's terminal.

import type { CommandResultView, LogEntry, MetricsView, NodeConfigView, ServicesView } from '../fleet/node-views.js';
import type { LinkQuality } from '../fleet/link-quality.js';
import type { HealthView, NodeView } from '../fleet/views.js';
import { formatTable } from './output.js';
import { formatBytes } from './progress.js';

/** syslog's priority names (RFC 5424 §6.2.1), by number: journalctl's spelling. */
export const PRIORITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

/** `node ID` (show): the node's registration, presence, health in brief and link quality. */
export function nodeTable(view: NodeView): string {
  const rows = [
    ['NODE', safe(view.node_id)], ['VERSION', safe(view.version)], ['HARDWARE', safe(view.hardware) || '-'],
    ['ONLINE', view.online ? 'yes' : 'no'], ['REGISTERED', safe(view.registered_at)], ['LAST SEEN', safe(view.last_seen)],
    ['HEALTH', view.health === null ? 'no report yet' : safe(view.health.status)],
  ];
  rows.push(...linkRows(view.link ?? null));
  return formatTable(rows);
}

/** The link quality as key/value rows; one row while there is none. */
export function linkRows(link: LinkQuality | null): string[][] {
  if (link === null) return [['LINK', 'no transfer report yet']];
  return [
    ['BLOCK SIZE', `${link.block_size} bytes`], ['WINDOW', `${link.window} blocks`], ['RTT', milliseconds(link.rtt_ms)],
    ['LOSS', lossPercent(link.loss)], ['GATEWAY RTT', milliseconds(link.gateway_rtt_ms)], ['MEASURED', safe(link.measured_at)],
  ];
}

export function healthTable(view: HealthView): string {
  const health = view.health;
  const rows = [
    ['NODE', safe(view.node_id)], ['ONLINE', view.online ? 'yes' : 'no'], ['LAST SEEN', safe(view.last_seen)],
  ];
  if (health === null) rows.push(['HEALTH', 'no report yet']);
  else {
    rows.push(
      ['STATUS', safe(health.status)], ['CPU', percent(health.cpu_percent)], ['MEMORY', percent(health.memory_percent)],
      ['TEMPERATURE', temperature(health.temperature)], ['UPTIME', duration(health.uptime_s)], ['REPORTED', safe(health.timestamp)],
    );
  }
  return formatTable(rows);
}

/** The latest sample as key/value rows, its disks and interfaces as tables; with
 * `history` (--since), a line per sample first. */
export function metricsTable(view: MetricsView, history = false): string {
  const latest = view.samples.at(-1);
  if (latest === undefined) return `no metrics samples from ${safe(view.node_id)}${history ? ' in that time' : ' yet'}\n`;
  const parts: string[] = [];
  if (history) {
    parts.push(formatTable([['AT', 'CPU%', 'MEM%', 'LOAD', 'TEMP'], ...view.samples.map((sample) => [
      safe(sample.at), sample.cpu_percent.toFixed(1), sample.memory_percent.toFixed(1), sample.load[0].toFixed(2), temperature(sample.temperature),
    ])]));
  }
  parts.push(formatTable([
    ['NODE', safe(view.node_id)], ['SAMPLED AT', safe(latest.at)], ['CPU', percent(latest.cpu_percent)],
    ['MEMORY', `${percent(latest.memory_percent)} of ${formatBytes(latest.memory_total_bytes)} (${formatBytes(latest.memory_available_bytes)} available)`],
    ['LOAD', latest.load.map((load) => load.toFixed(2)).join(' ')], ['TEMPERATURE', temperature(latest.temperature)],
    ['UPTIME', duration(latest.uptime_s)], ['INTERVAL', `${view.interval_s} s`],
  ]));
  if (latest.disks.length > 0) {
    parts.push(formatTable([['MOUNT', 'SIZE', 'FREE', 'USED%'], ...latest.disks.map((disk) => [
      safe(disk.mount), formatBytes(disk.total_bytes), formatBytes(disk.free_bytes), disk.used_percent.toFixed(1),
    ])]));
  }
  if (latest.network.length > 0) {
    parts.push(formatTable([['INTERFACE', 'RECEIVED', 'SENT'], ...latest.network.map((net) => [
      safe(net.iface), formatBytes(net.rx_bytes), formatBytes(net.tx_bytes),
    ])]));
  }
  return parts.join('\n');
}

export function servicesTable(view: ServicesView): string {
  if (view.services.length === 0) return `no services allowed on ${safe(view.node_id)} (the agent's allowed_units)\n`;
  return formatTable([['NAME', 'STATE', 'SUB-STATE', 'SINCE', 'RESTARTS'], ...view.services.map((service) => [
    safe(service.name), safe(service.active_state), safe(service.sub_state), service.since === null ? '-' : safe(service.since),
    service.restarts === null ? '-' : String(service.restarts),
  ])]);
}

export function configTable(view: NodeConfigView): string {
  const live = new Set(view.live);
  const entries = Object.entries(view.settings).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return `no settings shown by ${safe(view.node_id)}\n`;
  return formatTable([['KEY', 'VALUE', 'APPLIES'], ...entries.map(([key, value]) => [
    safe(key), safe(Array.isArray(value) ? value.join(',') : String(value)), live.has(key) ? 'now' : 'at restart',
  ])]);
}

export function logsTable(entries: readonly LogEntry[]): string {
  if (entries.length === 0) return 'no log entries\n';
  return formatTable([['TIME', 'UNIT', 'PRIORITY', 'MESSAGE'], ...entries.map(logCells)]);
}

/** A followed entry: the table's columns, the unit padded to `unitWidth`. */
export function logLine(entry: LogEntry, unitWidth: number): string {
  const [at, unit, priority, message] = logCells(entry);
  return `${at}  ${unit!.padEnd(unitWidth)}  ${priority!.padEnd(8)}  ${message}`.trimEnd() + '\n';
}

export function commandResultLine(view: CommandResultView): string {
  return `${safe(view.node_id)}: ${safe(view.action)} ${view.outcome === 'done' ? 'done' : 'scheduled'}${view.detail === '' ? '' : `: ${safe(view.detail)}`}\n`;
}

// ---- pure ---------------------------------------------------------------------------

function logCells(entry: LogEntry): string[] {
  return [safe(entry.at), entry.unit === null ? '-' : safe(entry.unit), PRIORITY_NAMES[entry.priority] ?? String(entry.priority), safe(entry.message)];
}

/** One line of printable text: line breaks as \n, other control characters as \xHH. */
export function safe(text: string): string {
  return text.replace(/\r?\n/g, '\\n').replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const percent = (value: number): string => `${value.toFixed(1)} %`;
export const milliseconds = (value: number | null): string => (value === null ? '-' : `${value.toFixed(1)} ms`);
export const lossPercent = (loss: number): string => percent(loss * 100);
const temperature = (value: number | null): string => (value === null ? '-' : `${value.toFixed(1)} °C`);

/** 93784 → "1d 2h 3m"; under a minute in seconds. */
function duration(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return [days > 0 ? `${days}d` : '', days > 0 || hours > 0 ? `${hours}h` : '', `${minutes}m`].filter((part) => part !== '').join(' ');
}
