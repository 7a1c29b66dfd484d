// The command adapter of ServiceManager, for nodes without systemd (OpenRC, runit, a
// supervisor of the operator's): services_command is run as `PROGRAM status UNIT`, which
// prints one JSON object {active_state, sub_state, since?, restarts?, description?}, and
// as `PROGRAM start|stop|restart UNIT`, which exits 0 when done; each bounded in time and
// output, never through a shell.

import type { ServiceView } from '../fleet/node-views.js';
import { parseInstant } from '../fleet/instant.js';
import { ServiceManagerError } from './errors.js';
import { describeProgramFailure, runProgram } from './run-program.js';
import { SERVICE_ACTION_TIMEOUT_MS, SERVICE_STATUS_TIMEOUT_MS, type ServiceAction, type ServiceManager } from './service-manager.js';

const MAX_STATUS_BYTES = 16 * 1024;
const MAX_ACTION_OUTPUT_BYTES = 64 * 1024;
/** Status queries at once, for a list: the program is the operator's and may be slow. */
const LIST_CONCURRENCY = 4;

export class CommandServiceManager implements ServiceManager {
  readonly #program: string;

  constructor(program: string) {
    this.#program = program;
  }

  async list(units: readonly string[]): Promise<ServiceView[]> {
    const views = new Array<ServiceView>(units.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let index = next++; index < units.length; index = next++) views[index] = await this.status(units[index]!);
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, units.length) }, worker));
    return views;
  }

  async status(unit: string): Promise<ServiceView> {
    const result = await runProgram(this.#program, ['status', unit], { timeoutMs: SERVICE_STATUS_TIMEOUT_MS, maxOutputBytes: MAX_STATUS_BYTES });
    if (result.exitCode !== 0 || result.overflowed) {
      throw new ServiceManagerError(result.overflowed ? `${this.#program} status ${unit}: more than ${MAX_STATUS_BYTES} bytes of output`
        : describeProgramFailure(`${this.#program} status ${unit}`, result, SERVICE_STATUS_TIMEOUT_MS));
    }
    const view = parseCommandStatus(unit, result.stdout.toString('utf8'));
    if (typeof view === 'string') throw new ServiceManagerError(`${this.#program} status ${unit}: ${view}`);
    return view;
  }

  async act(unit: string, action: ServiceAction): Promise<void> {
    const result = await runProgram(this.#program, [action, unit], { timeoutMs: SERVICE_ACTION_TIMEOUT_MS, maxOutputBytes: MAX_ACTION_OUTPUT_BYTES });
    if (result.exitCode !== 0) throw new ServiceManagerError(describeProgramFailure(`${this.#program} ${action} ${unit}`, result, SERVICE_ACTION_TIMEOUT_MS));
  }
}

/** The program's status answer as a view, or what is wrong with it. */
export function parseCommandStatus(unit: string, text: string): ServiceView | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'the status is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'the status is not a JSON object';
  const status = parsed as Record<string, unknown>;
  const text64 = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 64;
  if (!text64(status.active_state) || !text64(status.sub_state)) return 'active_state and sub_state must be strings of 1..64 characters';
  let since: number | undefined;
  if (status.since !== undefined && status.since !== null) {
    since = typeof status.since === 'string' ? parseInstant(status.since) : undefined;
    if (since === undefined) return 'since must be an RFC 3339 time';
  }
  const restarts = status.restarts ?? null;
  if (restarts !== null && (typeof restarts !== 'number' || !Number.isSafeInteger(restarts) || restarts < 0)) return 'restarts must be a whole number';
  const description = status.description ?? '';
  if (typeof description !== 'string') return 'description must be a string';
  return {
    name: unit, description: description.slice(0, 256), active_state: status.active_state, sub_state: status.sub_state,
    since: since === undefined ? null : new Date(since).toISOString(), restarts: restarts as number | null,
  };
}
