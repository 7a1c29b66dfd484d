// Starts an in-process agent the way the command does (config through loadAgentConfig,
// pino logger) against a fake gateway, with its log lines kept for the assertions.

import { Agent, type AgentOptions } from '../../../src/agent/agent.js';
import { loadAgentConfig, type ConfigKey } from '../../../src/agent/config.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { FakeGateway, makePublisher, tempDir, type Publisher } from './fake-gateway.js';

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

/** A test's world: a temporary directory, a fake gateway over real UDP, a publisher key
 * pair, the agent running in it (if any) and every log entry of its agents. */
export interface AgentWorld {
  dir: string;
  data: string;
  gateway: FakeGateway;
  publisher: Publisher;
  running: RunningAgent | undefined;
  /** Log entries of every agent of the test. */
  logs: Record<string, unknown>[];
  /** Warn/error messages the test causes on purpose. */
  expectedWarnings: RegExp[];
  /** Stops the agent and the gateway, removes the directory, and fails on any warn or
   * error line the test did not expect. */
  cleanup: () => Promise<void>;
}

export async function agentWorld(prefix: string): Promise<AgentWorld> {
  const temp = await tempDir(prefix);
  const gateway = await FakeGateway.start();
  const publisher = await makePublisher(temp.path);
  const state: AgentWorld = {
    dir: temp.path, data: join(temp.path, 'data'), gateway, publisher, running: undefined, logs: [], expectedWarnings: [],
    cleanup: async () => {
      await state.running?.agent.stop();
      // The gateway of the moment: a test may have replaced it (a restart).
      await state.gateway.close();
      await temp.remove();
      const unexpected = unexpectedWarnings(state.logs, state.expectedWarnings);
      assert.equal(unexpected, [], 'no unexpected warning or error in the agent\'s log');
    },
  };
  return state;
}
