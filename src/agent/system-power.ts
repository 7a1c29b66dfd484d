// A signed restart or shutdown of the node (DESIGN §5: "answer first, flush state, then
// run the configured command"): after the 2.04 is on the wire, the agent stops as on a
// signal (its state flushed and closed, the endpoint closed), then runs restart_command or
// shutdown_command (systemctl reboot / poweroff by default) with its time limit.

import type { DaemonLogger } from '../fleet/logger.js';
import { describeFailure, runCommand } from './run-command.js';

export type PowerAction = 'restart' | 'shutdown';

/** How a scheduled restart or shutdown ended: `ok` when its command succeeded. */
export interface PowerOutcome {
  readonly action: PowerAction;
  readonly ok: boolean;
}

export interface SystemPowerOptions {
  /** The agent's stop path; resolves once its state is flushed and closed. */
  readonly stopAgent: () => Promise<void>;
  readonly commands: Readonly<Record<PowerAction, string>>;
  readonly timeoutMs: number;
  readonly log: DaemonLogger;
}

export class SystemPower {
  readonly #options: SystemPowerOptions;
  readonly #finished: Promise<PowerOutcome>;
  readonly #finish: (outcome: PowerOutcome) => void;
  #scheduled = false;

  constructor(options: SystemPowerOptions) {
    this.#options = options;
    let finish!: (outcome: PowerOutcome) => void;
    this.#finished = new Promise((resolve) => { finish = resolve; });
    this.#finish = finish;
  }

  /** Whether a restart or shutdown is under way: a second one has nothing left to do. */
  get scheduled(): boolean {
    return this.#scheduled;
  }

  /** Stops the agent and runs the action's command, once the handler that calls this has
   * returned its answer and the endpoint has sent it. */
  schedule(action: PowerAction): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    void responsesSent().then(() => this.#run(action)).then((ok) => this.#finish({ action, ok }));
  }

  /** Resolves once a scheduled action's command has finished, or failed: the agent has
   * nothing left to do. Pending until one is scheduled. */
  finished(): Promise<PowerOutcome> {
    return this.#finished;
  }

  /** Never rejects: what fails is logged, and the command runs even if the state could
   * not be closed cleanly, since the operator asked for it. */
  async #run(action: PowerAction): Promise<boolean> {
    const { stopAgent, commands, timeoutMs, log } = this.#options;
    log.info({ action }, `${action} requested: stopping the agent`);
    try {
      await stopAgent();
    } catch (error) {
      log.error({ err: error, action }, 'the agent did not stop cleanly; running the command anyway');
    }
    const command = commands[action];
    const result = await runCommand(command, { env: {}, timeoutMs });
    if (result.ok) log.info({ action, command }, `${action} command ran`);
    else log.error({ action, command }, describeFailure(`${action} command`, result, timeoutMs));
    return result.ok;
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
