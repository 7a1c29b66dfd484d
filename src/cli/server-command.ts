// `coap-fleet server`: the gateway daemon from the command line. Config from a file, the
// COAP_FLEET_SERVER_* environment and flags (src/server/config.ts); a bad one is exit
// status 2 with one line naming every problem.
// Runs until SIGINT or SIGTERM, or an operator's POST /system/shutdown, then stops
// gracefully and exits 0; after POST /system/restart it stops the same way and exits
// RESTART_EXIT_STATUS, for the service manager to start it again. Exiting rather than
// re-executing itself: under systemd (Type=simple) the main process is the one systemd
// watches, and a re-exec'd child would be a stranger to it, outside its stop timeout and
// its restart accounting; the unit says what to do with the status
// (tools/systemd/coap-fleet-server.service: RestartForceExitStatus=75).
// Under systemd (Type=notify) it says READY=1 once its sockets are bound and its store is
// open, pings the watchdog, and says STOPPING=1 when it stops (src/fleet/service-notify.ts).

import { rename, rm, writeFile } from 'node:fs/promises';
import { CONFIG_KEYS, envName, GATEWAY_FIELDS, loadConfig, type GatewayConfig } from '../server/config.js';
import { ConfigError } from '../server/errors.js';
import { Gateway } from '../server/gateway.js';
import { createDaemonLogger, type DaemonLogger as ServerLogger } from '../fleet/logger.js';
import { ServiceNotifier } from '../fleet/service-notify.js';
import { formatPeer } from '../protocol/interfaces.js';
import { formatFlags, parseArgs, type FlagSpecs } from './args.js';
import { UsageError } from './errors.js';
import { settingFlags, settingFlagValues } from './config-flags.js';
import type { CliIo } from './output.js';

/** The exit status after POST /system/restart: EX_TEMPFAIL of sysexits.h ("try again"),
 * distinct from every other status of this command. The systemd unit restarts on it
 * whatever its Restart= says (RestartForceExitStatus=75); without a service manager the
 * process just ends, and whoever started it decides. */
export const RESTART_EXIT_STATUS = 75;

const SETTING_FLAGS = settingFlags(GATEWAY_FIELDS);

const CONFIG_FLAG = { config: { type: 'string', value: 'FILE', description: `JSON config file (also ${envName('config')})` } } as const satisfies FlagSpecs;
const HELP_FLAG = { help: { type: 'boolean', short: 'h', description: 'this help' } } as const satisfies FlagSpecs;

const SERVER_FLAGS: FlagSpecs = { ...CONFIG_FLAG, ...SETTING_FLAGS.accepted, ...HELP_FLAG };

export const serverUsage = (): string => 'Usage: coap-fleet server --data-dir DIR [options]\n\n'
  + 'Runs the gateway: /updates, /nodes and their sub-resources over CoAP (JSON or CBOR),\n'
  + 'state in LMDB and images under DIR, until SIGINT or SIGTERM (then a graceful stop, exit 0).\n'
  + 'Logs are JSON lines on stdout. Plain CoAP from loopback has operator rights unless\n'
  + 'allow_local_plain is false.\n\n'
  + `Options:\n${formatFlags({ ...CONFIG_FLAG, ...SETTING_FLAGS.listed, ...HELP_FLAG })}\n`
  + 'Every setting can also come from the config file (JSON, the names below) or the\n'
  + 'environment; flags win over the environment, which wins over the file. Relative paths\n'
  + 'in the file are relative to its folder. COAP_FLEET_<KEY> (earlier releases) still works,\n'
  + 'with a deprecation warning:\n'
  + `${CONFIG_KEYS.map((key) => `  ${key.padEnd(24)} ${envName(key)}`).join('\n')}\n\n`
  + 'Settings changed through PUT /system/config are kept in DIR/config-overlay.json, over the\n'
  + 'file and under the environment and flags.\n\n'
  + 'Exit status: 0 stopped by a signal or POST /system/shutdown, 2 bad usage or configuration,\n'
  + '3 a port that would not bind or a state store that would not open, 4 a state store that\n'
  + 'failed its check (DIR/state/data.mdb truncated or overwritten: restore it, or move it\n'
  + `away), ${RESTART_EXIT_STATUS} stopped by POST /system/restart (start it again).\n`;

export async function runServerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(argv, SERVER_FLAGS);
  const { positionals } = parsed;
  // The table is built from the config fields, so its value types are not literal.
  const flags = parsed.flags as Readonly<Record<string, string | boolean | undefined>>;
  if (flags.help === true) {
    io.stdout.write(serverUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const configFlags = settingFlagValues(GATEWAY_FIELDS, flags);
  const deprecations: string[] = [];
  // Signals are ours from here on, so one during start still ends in a graceful stop.
  const shutdown = io.shutdown();
  let config: GatewayConfig;
  let logger: ServerLogger;
  let notifier: ServiceNotifier | undefined;
  let gateway: Gateway;
  try {
    const sources = { flags: configFlags, file: typeof flags.config === 'string' ? flags.config : undefined, env: process.env, cwd: process.cwd() };
    config = await loadConfig({ ...sources, onDeprecated: (warning) => deprecations.push(warning) });
    logger = createDaemonLogger({ level: config.log_level, pretty: config.pretty, stream: io.stdout });
    // Taken out once logged, so a ConfigError from the start does not print them again.
    for (const warning of deprecations.splice(0)) logger.warn(warning);
    // From here, before the store's check and open: the watchdog runs from the start.
    notifier = new ServiceNotifier({ log: logger });
    gateway = await Gateway.start({ config, sources, logger });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const warning of deprecations) io.stderr.write(`coap-fleet server: ${warning}\n`);
    io.stderr.write(`coap-fleet server: ${error.message}\n`);
    return 2;
  }
  const readyFile = config.ready_file;
  if (readyFile !== null) {
    const { coap, coaps, est, dashboard } = gateway.addresses();
    const temporary = `${readyFile}.${process.pid}.tmp`;
    const ports = { coap_port: coap?.port ?? null, coaps_port: coaps?.port ?? null, est_port: est?.port ?? null, dashboard_port: dashboard?.port ?? null };
    await writeFile(temporary, `${JSON.stringify({ ...ports, pid: process.pid })}\n`);
    await rename(temporary, readyFile);
  }
  notifier.ready(readyStatus(gateway));
  const reason = await Promise.race([shutdown.then((signal) => ({ signal })), gateway.stopRequested.then((request) => ({ request }))]);
  logger.info(reason, 'stopping');
  // Told while it stops, not before: a notification never holds up the stop.
  const told = notifier.stopping(`stopping (${'signal' in reason ? reason.signal : `POST /system/${reason.request}`})`);
  await gateway.stop();
  await told;
  if (readyFile !== null) await rm(readyFile, { force: true });
  return 'request' in reason && reason.request === 'restart' ? RESTART_EXIT_STATUS : 0;
}

/** `systemctl status`'s line for a gateway that serves: where, and how many nodes it knows. */
function readyStatus(gateway: Gateway): string {
  const listening = Object.entries(gateway.addresses()).map(([name, address]) => `${name} ${formatPeer(address)}`);
  return `serving ${listening.join(', ')}; ${gateway.store.listNodes().length} nodes registered`;
}
