// The demo's nodes set up for remote operations (issue 11), so `coap-fleet node …` has
// something to show on them: per node a log file its agent tails (log_source "files"), a
// small service manager program (services_adapter "command") keeping two pretend units'
// state in files and logging what it does, restart and shutdown commands that only log
// (a signed reboot of a demo node must not reboot the machine the demo runs on; the demo
// starts a "rebooted" agent again), and the operator's command key pinned.

import { appendFile, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEMO_UNITS = ['demo-app.service', 'demo-worker.service'] as const;

export interface DemoNodeFiles {
  /** The log the agent tails; entries' unit is its base name. */
  readonly logFile: string;
  /** The services_command program: `PROGRAM status|start|stop|restart UNIT`. */
  readonly servicesProgram: string;
  /** Written by the node's restart_command: the demo starts its agent again. */
  readonly rebootMarker: string;
}

/** Writes the node's log (a few lines to start with) and its service manager into `dir`. */
export async function prepareDemoNode(dir: string, nodeId: string, now: number = Date.now()): Promise<DemoNodeFiles> {
  await mkdir(join(dir, 'units'), { recursive: true });
  const files = { logFile: join(dir, 'demo-app.log'), servicesProgram: join(dir, 'demo-services'), rebootMarker: join(dir, 'rebooted') };
  const at = (offsetS: number): string => new Date(now - offsetS * 1000).toISOString();
  await writeFile(files.logFile, [
    `${at(3)} <6>${nodeId}: demo-app 1.0 starting`,
    `${at(2)} <6>${nodeId}: listening on :8080`,
    `${at(1)} <4>${nodeId}: cache warm-up took 1.2 s (slow)`,
  ].map((line) => `${line}\n`).join(''));
  await writeFile(files.servicesProgram, servicesProgram(join(dir, 'units'), files.logFile));
  await chmod(files.servicesProgram, 0o755);
  return files;
}

/** One more line in a demo node's log: `priority` 0..7 as syslog's. */
export const appendDemoLog = (files: DemoNodeFiles, priority: number, message: string): Promise<void> =>
  appendFile(files.logFile, `${new Date().toISOString()} <${priority}>${message}\n`);

/** Every agent setting of remote operations the demo uses. The pinned operator key goes
 * with harmless restart and shutdown commands: a signed reboot of a demo node must never
 * reboot the machine the demo runs on. */
export function remoteOperationsAgentSettings(files: DemoNodeFiles, operatorPublicKey: string): Readonly<Record<string, unknown>> {
  const log = (what: string): string => `echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) <4>${what}" >> ${shellQuote(files.logFile)}`;
  return {
    metrics_interval_s: 5,
    allowed_units: [...DEMO_UNITS], services_adapter: 'command', services_command: files.servicesProgram,
    log_source: 'files', log_files: [files.logFile],
    operator_keys: [operatorPublicKey],
    restart_command: `${log('signed restart: the demo starts the agent again instead of rebooting')} && touch ${shellQuote(files.rebootMarker)}`,
    shutdown_command: log('signed shutdown: the demo leaves this node off instead of powering off'),
  };
}


// ---- pure ---------------------------------------------------------------------------

const shellQuote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

/** A POSIX sh program: `status UNIT` prints {active_state, sub_state, since, restarts,
 * description} as JSON; `start|stop|restart UNIT` changes the state file and logs it. */
function servicesProgram(unitsDir: string, logFile: string): string {
  return `#!/bin/sh
# The coap-fleet demo's service manager (services_adapter "command"): ${DEMO_UNITS.join(', ')},
# pretend units whose state lives in ${unitsDir}.
units=${shellQuote(unitsDir)}
log=${shellQuote(logFile)}
action=$1
unit=$2
case "$unit" in
  ${DEMO_UNITS.join('|')}) ;;
  *) echo "demo-services: no unit $unit" >&2; exit 1 ;;
esac
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
state="$units/$unit"
[ -f "$state" ] || echo "active running $now 0" > "$state"
read -r active sub since restarts < "$state"
case "$action" in
  status)
    printf '{"active_state":"%s","sub_state":"%s","since":"%s","restarts":%s,"description":"%s (coap-fleet demo)"}\\n' "$active" "$sub" "$since" "$restarts" "$unit" ;;
  start)
    echo "active running $now $restarts" > "$state"; echo "$now <5>$unit started" >> "$log" ;;
  stop)
    echo "inactive dead $now $restarts" > "$state"; echo "$now <5>$unit stopped" >> "$log" ;;
  restart)
    echo "active running $now $((restarts + 1))" > "$state"; echo "$now <5>$unit restarted" >> "$log" ;;
  *) echo "demo-services: no action $action" >&2; exit 2 ;;
esac
`;
}
