// Starts an in-process agent the way the command does (config through loadAgentConfig,
// pino logger) against a fake gateway, with its log lines kept for the assertions.

import { Agent, type AgentOptions } from '../../../src/agent/agent.js';
import { loadAgentConfig, type ConfigKey } from '../../../src/agent/config.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import type { FakeGateway, Publisher } from './fake-gateway.js';

export interface RunningAgent {
  readonly agent: Agent;
  readonly logs: Record<string, unknown>[];
}

/** Starts an agent; its log entries go to `logs` (a fresh array unless given, so the
 * agents of one test can share one); `options` may give it a virtual clock. */
export async function startAgent(
  dataDir: string, gateway: FakeGateway, publisher: Publisher, fields: Partial<Record<ConfigKey, string>> = {},
  logs: Record<string, unknown>[] = [], options: AgentOptions = {},
): Promise<RunningAgent> {
  const config = loadAgentConfig({
    flags: {
      node_id: 'n1', gateway: gateway.uri, data_dir: dataDir, publisher_key: publisher.publicKeyPath,
      initial_version: '1.0.0', health_interval_s: '0.5', log_level: 'debug', listen_host: '127.0.0.1', ...fields,
    },
  });
  const log = createDaemonLogger({
    level: config.logLevel, pretty: false, base: { node_id: config.nodeId },
    stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } },
  });
  return { agent: await Agent.start(config, log, options), logs };
}

/** Warn and error entries not matched by one of `expected`: each test says which it
 * causes, so an unexpected one fails it. */
export const unexpectedWarnings = (logs: readonly Record<string, unknown>[], expected: readonly RegExp[]): string[] => logs
  .filter((entry) => entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal')
  .filter((entry) => !expected.some((pattern) => pattern.test(String(entry.msg))))
  .map((entry) => JSON.stringify(entry));
