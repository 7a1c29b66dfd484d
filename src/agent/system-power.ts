// A signed restart or shutdown of the node (DESIGN §5: "answer first, flush state, then
// run the configured command"): after the 2.04 is on the wire, the agent stops as on a
// signal (its state flushed and closed, the endpoint closed), then runs restart_command or
// shutdown_command (systemctl reboot / poweroff by default) with its time limit.

import type { DaemonLogger } from '../fleet/logger.js';
import { describeFailure, runCommand } from './run-command.js';

export type PowerAction = 'restart' | 'shutdown';

export interface SystemPowerOptions {
  /** The agent's stop path; resolves once its state is flushed and closed. */
  readonly stopAgent: () => Promise<void>;
  readonly commands: Readonly<Record<PowerAction, string>>;
  readonly timeoutMs: number;
  readonly log: DaemonLogger;
}

export class SystemPower {
  readonly #options: SystemPowerOptions;
  #scheduled: Promise<PowerAction> | undefined;

  constructor(options: SystemPowerOptions) {
    this.#options = options;
  }

  /** Whether a restart or shutdown is under way: a second one has nothing left to do. */
  get scheduled(): boolean {
    return this.#scheduled !== undefined;
  }

  /** Stops the agent and runs the action's command, once the handler that calls this has
   * returned its answer and the endpoint has sent it. */
  schedule(action: PowerAction): void {
    this.#scheduled ??= responsesSent().then(() => this.#run(action));
  }

  /** Resolves when a scheduled action's command has finished (or failed): the agent has
   * nothing left to do. Never settles while none is scheduled. */
  finished(): Promise<PowerAction> {
    return this.#scheduled ?? new Promise(() => {});
  }

  async #run(action: PowerAction): Promise<PowerAction> {
    const { stopAgent, commands, timeoutMs, log } = this.#options;
    log.info({ action }, `${action} requested: stopping the agent`);
    await stopAgent();
    const command = commands[action];
    const result = await runCommand(command, { env: {}, timeoutMs });
    if (result.ok) log.info({ action, command }, `${action} command ran`);
    else log.error({ action, command }, describeFailure(`${action} command`, result, timeoutMs));
    return action;
  }
}

/** Resolves once the answer of the handler that just returned is on the wire. It is not
 * when the handler returns: the endpoint sends it a few promise reactions later, and dgram's
 * send() hands the datagram to the socket on the next tick (its address lookup answers
 * then, even for an IP address); closing the endpoint before would drop it without a word.
 * Both are queued work of this turn of the event loop, and setImmediate runs after all of
 * it (the gateway's stop waits the same way, src/server/gateway.ts). */
function responsesSent(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
