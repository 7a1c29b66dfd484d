// A node's logs through the gateway (DESIGN §5): GET /nodes/{id}/logs with the agent's
// filters (unit, since, priority, lines), Block2 when large (RFC 7959, the endpoint joins
// the blocks), and follow: an observation (RFC 7641) whose notifications carry the entries
// that arrived since the previous one, handed out one entry at a time until aborted.

import type { LogEntry, LogsView } from '../fleet/node-views.js';
import { gatewayPath } from '../fleet/paths.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass, Method } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { getUintOption, OptionNumber } from '../protocol/options.js';
import { GatewayError, ObservationRefusedError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';
import { checkNodeId, viewOf, type FieldKinds } from './node-reads.js';

export interface LogFilters {
  /** Only this systemd unit (or configured log file's name). */
  readonly unit?: string | undefined;
  /** Only entries at or after this RFC 3339 time. */
  readonly since?: string | undefined;
  /** Only this syslog priority and more urgent: 0 (emerg) .. 7 (debug). */
  readonly priority?: number | undefined;
  /** At most the last N entries. */
  readonly lines?: number | undefined;
}

const REGISTER_TIMEOUT_MS = 30_000;
const LOGS_FIELDS: FieldKinds = { node_id: 'string', entries: 'array', truncated: 'boolean' };
/** Entries remembered to recognise one sent again: a re-registration after Max-Age
 * (RFC 7641 §3.3.1) or an observation the gateway shares may repeat a window already shown. */
const RECENT_ENTRIES = 4096;

/** GET /nodes/{id}/logs: the matching entries, oldest first. */
export async function readNodeLogs(gateway: GatewayClient, nodeId: string, filters: LogFilters = {}): Promise<LogsView> {
  checkNodeId(nodeId);
  const path = logsPath(nodeId, filters);
  return viewOf<LogsView>((await gateway.send(Method.GET, path)).payload, path, LOGS_FIELDS);
}

/** The matching entries, then each new one as it arrives, until `signal` aborts (the
 * observation is deregistered, RFC 7641 §3.6) or the gateway ends the observation. An
 * entry already handed out is not handed out again. A refusal is a GatewayError; an
 * answer without Observe, after its entries, ObservationRefusedError. */
export async function* followNodeLogs(gateway: GatewayClient, nodeId: string, filters: LogFilters, signal: AbortSignal): AsyncGenerator<LogEntry> {
  checkNodeId(nodeId);
  const path = logsPath(nodeId, filters);
  const { observation, first } = await gateway.endpoint.observe({
    uri: `${gateway.base}${path}`, accept: ContentFormat.Json, timeoutMs: REGISTER_TIMEOUT_MS,
  });
  const stop = (): void => { void observation.cancel(); };
  signal.addEventListener('abort', stop, { once: true });
  try {
    const recent = new RecentEntries(RECENT_ENTRIES);
    const entriesOf = (response: CoapResponse): LogEntry[] => {
      if (codeClass(response.code) !== 2) throw new GatewayError(response, path);
      return recent.fresh(viewOf<LogsView>(response.payload, path, LOGS_FIELDS).entries);
    };
    yield* entriesOf(first);
    if (getUintOption(first.options, OptionNumber.Observe) === undefined) throw new ObservationRefusedError(path);
    if (signal.aborted) return;
    for await (const notification of observation) yield* entriesOf(notification);
  } finally {
    signal.removeEventListener('abort', stop);
    // Also when the caller stopped iterating early; a no-op once ended.
    await observation.cancel();
  }
}

// ---- pure ---------------------------------------------------------------------------

/** The path with the filters as its query (RFC 7252 §6.5: one Uri-Query per argument). */
export function logsPath(nodeId: string, filters: LogFilters): string {
  const query = [
    ['unit', filters.unit], ['since', filters.since],
    ['priority', filters.priority === undefined ? undefined : String(filters.priority)],
    ['lines', filters.lines === undefined ? undefined : String(filters.lines)],
  ].filter((pair): pair is [string, string] => pair[1] !== undefined).map(([name, value]) => `${name}=${encodeURIComponent(value)}`);
  return `${gatewayPath.logs(nodeId)}${query.length === 0 ? '' : `?${query.join('&')}`}`;
}

/** The last `bound` entries handed out, by their whole content: an entry of a batch is
 * fresh unless this very line (time, unit, priority, message) came in an earlier batch.
 * Repeats within one batch are kept: lines without a time of their own in a log file all
 * carry the file's modification time, and each is a line the node logged. */
export class RecentEntries {
  readonly #bound: number;
  /** Insertion-ordered, the most recently seen last: the oldest goes first at the bound. */
  readonly #keys = new Set<string>();

  constructor(bound: number) {
    this.#bound = bound;
  }

  fresh(entries: readonly LogEntry[]): LogEntry[] {
    const keys = entries.map((entry) => JSON.stringify([entry.at, entry.unit, entry.priority, entry.message]));
    const fresh = entries.filter((_, index) => !this.#keys.has(keys[index]!));
    for (const key of keys) {
      this.#keys.delete(key);
      this.#keys.add(key);
      if (this.#keys.size > this.#bound) this.#keys.delete(this.#keys.values().next().value as string);
    }
    return fresh;
  }
}
