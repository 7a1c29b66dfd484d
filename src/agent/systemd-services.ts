// The systemd adapter of ServiceManager: `systemctl show` for the states (one call for
// all the units listed, systemctl(1) prints one block per unit, in the order given) and
// `systemctl start|stop|restart` for the actions, each bounded in time and output.

import type { ServiceView } from '../fleet/node-views.js';
import { ServiceManagerError } from './errors.js';
import { describeProgramFailure, runProgram } from './run-program.js';
import { SERVICE_ACTION_TIMEOUT_MS, SERVICE_STATUS_TIMEOUT_MS, type ServiceAction, type ServiceManager } from './service-manager.js';

const PROPERTIES = 'Id,Description,ActiveState,SubState,StateChangeTimestamp,NRestarts';
/** A block of the properties above is well under 1 KiB: 256 units fit many times over. */
const MAX_STATUS_BYTES = 1024 * 1024;
const MAX_ACTION_OUTPUT_BYTES = 64 * 1024;

export class SystemdServiceManager implements ServiceManager {
  readonly #systemctl: string;

  /** `systemctl`: the one on PATH unless a test gives another. */
  constructor(systemctl = 'systemctl') {
    this.#systemctl = systemctl;
  }

  async list(units: readonly string[]): Promise<ServiceView[]> {
    if (units.length === 0) return [];
    // `--` ends the options: a unit name is never read as one.
    const result = await runProgram(this.#systemctl, ['show', `--property=${PROPERTIES}`, '--timestamp=utc', '--', ...units], {
      timeoutMs: SERVICE_STATUS_TIMEOUT_MS, maxOutputBytes: MAX_STATUS_BYTES,
    });
    if (result.exitCode !== 0 || result.overflowed) {
      throw new ServiceManagerError(result.overflowed ? 'systemctl show: more output than expected' : describeProgramFailure('systemctl show', result, SERVICE_STATUS_TIMEOUT_MS));
    }
    const blocks = parseSystemctlShow(result.stdout.toString('utf8'));
    if (blocks.length !== units.length) throw new ServiceManagerError(`systemctl show: ${blocks.length} units in the answer for ${units.length} asked`);
    return blocks.map((properties, index) => serviceView(units[index]!, properties));
  }

  async status(unit: string): Promise<ServiceView> {
    const [view] = await this.list([unit]);
    return view!;
  }

  async act(unit: string, action: ServiceAction): Promise<void> {
    const result = await runProgram(this.#systemctl, [action, '--', unit], { timeoutMs: SERVICE_ACTION_TIMEOUT_MS, maxOutputBytes: MAX_ACTION_OUTPUT_BYTES });
    if (result.exitCode !== 0) throw new ServiceManagerError(describeProgramFailure(`systemctl ${action} ${unit}`, result, SERVICE_ACTION_TIMEOUT_MS));
  }
}

/** The blocks of `systemctl show` (KEY=VALUE lines, a blank line between units). */
export function parseSystemctlShow(text: string): Map<string, string>[] {
  const blocks: Map<string, string>[] = [];
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (line.trim() === '' || equals <= 0) {
      current = undefined;
      continue;
    }
    if (current === undefined) {
      current = new Map();
      blocks.push(current);
    }
    current.set(line.slice(0, equals), line.slice(equals + 1));
  }
  return blocks;
}

/** A unit's view from its `systemctl show` properties, under the name allowed_units
 * gives it (systemd's Id may add the `.service` a configured name left out). */
export function serviceView(name: string, properties: ReadonlyMap<string, string>): ServiceView {
  const restarts = properties.get('NRestarts');
  return {
    name,
    description: properties.get('Description') ?? '',
    active_state: properties.get('ActiveState') || 'unknown',
    sub_state: properties.get('SubState') || 'unknown',
    since: parseSystemdTimestamp(properties.get('StateChangeTimestamp') ?? ''),
    restarts: restarts === undefined || !/^\d+$/.test(restarts) ? null : Number(restarts),
  };
}

/** `Sun 2026-12-06 20:00:00 UTC` (--timestamp=utc; `…:00.123456 UTC` with us+utc) as
 * RFC 3339, null when empty (never changed since boot) or in another form. */
export function parseSystemdTimestamp(text: string): string | null {
  const match = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? UTC$/.exec(text.trim());
  if (match === null) return null;
  const ms = Date.parse(`${match[1]}T${match[2]}${match[3] ?? ''}Z`);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
