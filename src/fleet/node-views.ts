// What a node agent's own resources say (DESIGN §5), the shapes its clients read: the
// gateway (which forwards them under /nodes/{id}/… and keeps the metrics history), the
// operator's tools and the dashboard. The agent builds them; nobody else imports the agent
// to know them. JSON and CBOR carry the same fields.

/** One mounted filesystem in a metrics sample. */
export interface DiskFigures {
  readonly mount: string;
  readonly total_bytes: number;
  readonly free_bytes: number;
  readonly used_percent: number;
}

/** One network interface's byte counters since boot. */
export interface NetworkFigures {
  readonly iface: string;
  readonly rx_bytes: number;
  readonly tx_bytes: number;
}

/** One sample of GET /metrics, taken every metrics_interval_s. */
export interface MetricsSample {
  /** RFC 3339 UTC: when it was taken (the node's clock). */
  readonly at: string;
  /** Busy share of all CPUs over the interval since the previous sample. */
  readonly cpu_percent: number;
  readonly memory_total_bytes: number;
  readonly memory_available_bytes: number;
  readonly memory_percent: number;
  /** The 1, 5 and 15 minute load averages. */
  readonly load: readonly [number, number, number];
  /** °C, the hottest thermal zone; null on a machine without a sensor. */
  readonly temperature: number | null;
  readonly uptime_s: number;
  readonly disks: readonly DiskFigures[];
  readonly network: readonly NetworkFigures[];
}

/** GET /metrics (agent) and GET /nodes/{id}/metrics (gateway): samples oldest first.
 * Without `?since=`, the agent answers its latest sample only; with it, every kept sample
 * taken after that instant. The gateway's history is downsampled with age. */
export interface MetricsView {
  readonly node_id: string;
  readonly interval_s: number;
  readonly samples: readonly MetricsSample[];
}

/** A unit the agent's config allows (allowed_units), as the service manager reports it. */
export interface ServiceView {
  readonly name: string;
  readonly description: string;
  /** systemd's ActiveState: active, inactive, failed, activating, deactivating, reloading… */
  readonly active_state: string;
  /** systemd's SubState: running, dead, exited, failed… */
  readonly sub_state: string;
  /** RFC 3339 UTC of the last state change, null when unknown. */
  readonly since: string | null;
  /** NRestarts, null when the service manager does not count them. */
  readonly restarts: number | null;
}

/** GET /services. */
export interface ServicesView {
  readonly node_id: string;
  readonly services: readonly ServiceView[];
}

/** One log line of GET /logs. */
export interface LogEntry {
  /** RFC 3339 UTC. */
  readonly at: string;
  /** The systemd unit, or the configured log file's name; null when unknown. */
  readonly unit: string | null;
  /** syslog priority 0 (emerg) .. 7 (debug). */
  readonly priority: number;
  readonly message: string;
}

/** GET /logs?unit=U&since=T&priority=P&lines=N: entries oldest first. `truncated` when
 * more matched than the bound (lines, or the byte bound) let through. An observation
 * (follow) is notified with the entries that arrived since the previous notification. */
export interface LogsView {
  readonly node_id: string;
  readonly entries: readonly LogEntry[];
  readonly truncated: boolean;
}

/** The settings GET /system/config shows and a signed `config.set` may change. `live`
 * names those applied at once; the others are persisted and apply at the next start. */
export interface NodeConfigView {
  readonly node_id: string;
  readonly settings: Readonly<Record<string, string | number | boolean | readonly string[]>>;
  readonly live: readonly string[];
}

/** What a signed command (src/fleet/command-envelope.ts) gets back when it was accepted:
 * `done` when it ran before the answer (a service action, a config change), `scheduled`
 * when it runs after the answer is sent (restart, shutdown). */
export interface CommandResultView {
  readonly node_id: string;
  readonly action: string;
  readonly outcome: 'done' | 'scheduled';
  readonly detail: string;
}
