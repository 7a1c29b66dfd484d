// `coap-fleet agent`: the node agent daemon (src/agent) from a JSON config file, the
// COAP_FLEET_AGENT_* environment and flags (flags win, then the environment, then the
// file). Logs are pino JSON lines on stdout, --pretty for people; SIGTERM or SIGINT stops
// it cleanly (the block in hand finished and persisted, LMDB closed) with exit status 0.

import { Agent } from '../agent/agent.js';
import { CONFIG_FIELDS, envName, flagName, loadAgentConfig, type ConfigKey } from '../agent/config.js';
import { AgentConfigError } from '../agent/errors.js';
import { createDaemonLogger } from '../fleet/logger.js';
import { formatFlags, parseArgs, UsageError, type FlagSpec } from './args.js';
import type { CliIo } from './output.js';

const FIELD_FLAGS: Record<string, FlagSpec> = Object.fromEntries(
  (Object.entries(CONFIG_FIELDS) as [ConfigKey, (typeof CONFIG_FIELDS)[ConfigKey]][])
    .map(([key, spec]) => [flagName(key), { type: 'string', value: spec.value, description: spec.description }]),
);

const AGENT_FLAGS: Readonly<Record<string, FlagSpec>> = {
  config: { type: 'string', value: 'FILE', description: 'JSON config file (keys as the flags, with underscores)' },
  pretty: { type: 'boolean', description: 'readable log lines instead of JSON' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
  ...FIELD_FLAGS,
};

export const agentUsage = (): string => 'Usage: coap-fleet agent --config FILE [--pretty] [options]\n\n'
  + 'Runs the node agent: registers with the gateway, reports health, observes /updates,\n'
  + 'downloads, verifies and installs signed updates (A/B slots or a command hook), until\n'
  + 'SIGTERM or SIGINT. Each option is also a key of the config file (node_id for\n'
  + `--node-id) and an environment variable (${envName('node_id')}); flags win over the\n`
  + 'environment, the environment over the file. Durations are in seconds.\n\n'
  + `Options:\n${formatFlags(AGENT_FLAGS)}`
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
  const fieldFlags: Partial<Record<ConfigKey, string>> = {};
  for (const key of Object.keys(CONFIG_FIELDS) as ConfigKey[]) {
    const value = flags[flagName(key)];
    if (typeof value === 'string') fieldFlags[key] = value;
  }
  const config = await asUsageError(async () => loadAgentConfig({
    ...(typeof flags.config === 'string' ? { file: flags.config } : {}), env: process.env, flags: fieldFlags,
  }));
  // Listening for the signal before the start, so one that arrives meanwhile is not lost.
  const shutdown = io.shutdown();
  // A daemon outlives its log reader: a stdout closed under it (EPIPE) costs log lines,
  // not the node's updates.
  (io.stdout as Partial<Pick<NodeJS.EventEmitter, 'on'>>).on?.('error', () => {});
  const log = createDaemonLogger({ level: config.logLevel, pretty: flags.pretty === true, stream: io.stdout, base: { node_id: config.nodeId } });
  // A start can find the configuration wrong too (a slot directory it cannot write).
  const agent = await asUsageError(() => Agent.start(config, log));
  const signal = await shutdown;
  log.info({ signal }, 'stopping');
  await agent.stop();
  return 0;
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
