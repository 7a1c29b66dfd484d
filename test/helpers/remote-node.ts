// A node set up for remote operations in the end-to-end tests (issue 11), as the demo sets
// its nodes up (src/cli/demo-remote-ops.ts): a log file its agent tails, the command
// adapter's service script keeping two pretend units' state in files, harmless restart and
// shutdown commands, the fleet's operator command key pinned. Plus what the tests read
// back: a unit's state file, the agent's observe registrations (its debug log), and the
// real `coap-fleet node …` program pointed at the fleet's gateway.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDemoNode, remoteOperationsAgentSettings, type DemoNodeFiles } from '../../src/cli/demo-remote-ops.js';
import { runCli, type CliResult } from './cli.js';
import type { Daemon, Fleet } from './fleet.js';

export interface RemoteNode extends DemoNodeFiles {
  readonly nodeId: string;
  readonly unitsDir: string;
}

/** Writes the node's files and starts its agent with the remote-operations settings and
 * `config` over them. */
export async function startRemoteNode(fleet: Fleet, nodeId: string, config: Readonly<Record<string, unknown>> = {}): Promise<RemoteNode> {
  const dir = join(fleet.dir, `${nodeId}-files`);
  const files = await prepareDemoNode(dir, nodeId);
  await fleet.startAgent(nodeId, { config: { ...remoteOperationsAgentSettings(files, commandPublicKey(fleet)), ...config } });
  return { ...files, nodeId, unitsDir: join(dir, 'units') };
}

export const commandPublicKey = (fleet: Fleet): string => join(fleet.keysDir, 'operator-command.pub');
export const commandPrivateKey = (fleet: Fleet): string => join(fleet.keysDir, 'operator-command.key');

/** The unit's state as the service script keeps it ("active running SINCE RESTARTS"), or
 * undefined before the script first touched it. */
export function unitState(node: RemoteNode, unit: string): { active: string; sub: string; restarts: number } | undefined {
  try {
    const [active, sub, , restarts] = readFileSync(join(node.unitsDir, unit), 'utf8').trim().split(' ');
    return { active: active!, sub: sub!, restarts: Number(restarts) };
  } catch {
    return undefined;
  }
}

/** The agent's observe registrations of `path` added so far (its debug log, from
 * src/protocol/observe-server.ts): one per relation, renewals not counted. */
export const observeRegistrations = (agent: Daemon, path: string): { peer: string; token: string }[] => agent.entries()
  .filter((entry) => entry.msg === 'observe registration added' && entry.path === path)
  .map((entry) => ({ peer: String(entry.peer), token: String(entry.token) }));

/** `coap-fleet node ARGS` against the fleet's gateway with the operator's credentials (the
 * command key found beside them), none from this process's environment. */
export const nodeCli = (fleet: Fleet, args: readonly string[], options: Parameters<typeof runCli>[1] = {}): Promise<CliResult> =>
  runCli(['node', ...args, '--gateway', fleet.gatewayUri, '--credentials', fleet.operatorCredentials], {
    killAfterMs: 30_000, ...options, env: { COAP_FLEET_COMMAND_KEY: undefined, ...options.env },
  });

/** The CLI's output as JSON, or a failure that shows what it printed. */
export function cliJson<T>(result: CliResult, what: string): T {
  if (result.status !== 0) throw new Error(`${what}: exit ${result.status ?? result.signal}: ${result.stderr}${result.stdout}`);
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`${what}: not JSON: ${result.stdout.slice(0, 400)}`);
  }
}
