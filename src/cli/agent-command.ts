// `coap-fleet agent`: the node agent daemon (src/agent) from a JSON config file, the
// COAP_FLEET_AGENT_* environment and flags (flags win, then the environment, then the
// file: src/agent/config.ts). Logs are pino JSON lines on stdout, --pretty for people; SIGTERM or SIGINT stops
// it cleanly (the block in hand finished and persisted, LMDB closed) with exit status 0.
// Under systemd (Type=notify) it says READY=1 once its store is open and its first
// registration is under way (not done: a node without network still starts), pings the
// watchdog, and says STOPPING=1 when it stops (src/fleet/service-notify.ts).

import { Agent } from '../agent/agent.js';
import { CONFIG_FIELDS, envName, loadAgentConfig, type AgentConfig } from '../agent/config.js';
import { AgentConfigError } from '../agent/errors.js';
import { createDaemonLogger } from '../fleet/logger.js';
import { ServiceNotifier } from '../fleet/service-notify.js';
import { formatFlags, parseArgs, type FlagSpec } from './args.js';
import { UsageError } from './errors.js';
import { settingFlags, settingFlagValues } from './config-flags.js';
import type { CliIo } from './output.js';

const SETTING_FLAGS = settingFlags(CONFIG_FIELDS);

const COMMAND_FLAGS: Readonly<Record<string, FlagSpec>> = {
  config: { type: 'string', value: 'FILE', description: `JSON config file, keys as the flags with underscores (also ${envName('config')})` },
  pretty: { type: 'boolean', description: 'readable log lines instead of JSON' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
};

const AGENT_FLAGS: Readonly<Record<string, FlagSpec>> = { ...COMMAND_FLAGS, ...SETTING_FLAGS.accepted };

export const agentUsage = (): string => 'Usage: coap-fleet agent --config FILE [--pretty] [options]\n\n'
  + 'Runs the node agent: registers with the gateway, reports health, observes /updates,\n'
  + 'downloads, verifies and installs signed updates (A/B slots or a command hook), until\n'
  + 'SIGTERM or SIGINT. Each option is also a key of the config file (node_id for\n'
  + `--node-id) and an environment variable (${envName('node_id')}); flags win over the\n`
  + 'environment, the environment over the file; relative paths in the file are relative to\n'
  + 'its folder. Durations are in seconds (_s); the names without the unit (health_interval)\n'
  + 'of earlier releases still work, with a deprecation warning.\n\n'
  + `Options:\n${formatFlags({ ...COMMAND_FLAGS, ...SETTING_FLAGS.listed })}`
  + '\nExit status: 0 stopped by a signal, 2 bad configuration, 3 could not start, 4 the\n'
  + 'state store (DATA_DIR/state/data.mdb) failed its check: truncated or overwritten.\n';

export async function runAgentCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(argv, AGENT_FLAGS);
  const { positionals } = parsed;
  // The table is built from the config fields, so its value types are not literal.
  const flags = parsed.flags as Readonly<Record<string, string | boolean | undefined>>;
  if (flags.help === true) {
    io.stdout.write(agentUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const deprecations: string[] = [];
  let config: AgentConfig;
  try {
    config = loadAgentConfig({
      ...(typeof flags.config === 'string' ? { file: flags.config } : {}), env: process.env,
      // The agent has no switches: every setting flag is a string.
      flags: settingFlagValues(CONFIG_FIELDS, flags) as Record<string, string>, onDeprecated: (warning) => deprecations.push(warning),
    });
  } catch (error) {
    // No logger without a configuration: the warnings go beside the error.
    for (const warning of deprecations) io.stderr.write(`coap-fleet agent: ${warning}\n`);
    throw error instanceof AgentConfigError ? new UsageError(error.message) : error;
  }
  // Listening for the signal before the start, so one that arrives meanwhile is not lost.
  const shutdown = io.shutdown();
  // A daemon outlives its log reader: a stdout closed under it (EPIPE) costs log lines,
  // not the node's updates.
  (io.stdout as Partial<Pick<NodeJS.EventEmitter, 'on'>>).on?.('error', () => {});
  const log = createDaemonLogger({ level: config.logLevel, pretty: flags.pretty === true, stream: io.stdout, base: { node_id: config.nodeId } });
  for (const warning of deprecations) log.warn(warning);
  const notifier = new ServiceNotifier({ log });
  // An agent with only a bootstrap credential enrolls before it opens anything, for as long
  // as the gateway takes to answer.
  notifier.status(config.dtls === undefined && config.enrollment?.bootstrap !== undefined ? 'enrolling' : 'starting');
  // A start can find the configuration wrong too (a slot directory it cannot write).
  const agent = await asUsageError(() => Agent.start(config, log));
  notifier.ready(`node ${config.nodeId}, version ${agent.installedVersion()}, gateway ${config.gateway}, serving on port ${agent.address().port}`);
  // A signed restart or shutdown stops the agent itself and runs its command; the process
  // then has nothing left to do. If the command failed the node keeps running without its
  // agent: a failure status has systemd start it again (Restart=on-failure).
  const ended = await Promise.race([shutdown.then((signal) => ({ signal })), agent.halted()]);
  if ('signal' in ended) log.info({ signal: ended.signal }, 'stopping');
  // Told while it stops, not before: a notification never holds up the stop.
  const told = notifier.stopping('signal' in ended ? `stopping (${ended.signal})` : `stopping for a ${ended.action}`);
  await agent.stop();
  await told;
  return 'ok' in ended && !ended.ok ? 1 : 0;
}

/** A configuration problem is a usage error: exit status 2 with every problem named. */
async function asUsageError<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof AgentConfigError) throw new UsageError(error.message);
    throw error;
  }
}
