// The reboot an install system needs to run its new slot (issue 13): reboot_command, then a
// bounded wait for the stop the reboot brings (systemd stops the agent first). The install
// record says "awaiting reboot" before this runs; whatever stops the agent, the next start
// finds it and checks the booted slot. A command that fails, or an agent still running
// reboot_timeout_s later, is a reboot that did not happen.

import type { Clock } from '../protocol/interfaces.js';
import type { StopToken } from './interfaces.js';
import { describeFailure, runCommand } from './run-command.js';
import { sleep } from './sleep.js';

export type RebootOutcome = { readonly kind: 'stopping' } | { readonly kind: 'failed'; readonly reason: string };

export interface RebootOptions {
  readonly command: string;
  readonly timeoutMs: number;
  readonly stop: StopToken;
  readonly clock: Clock;
}

export async function rebootAndWait(options: RebootOptions): Promise<RebootOutcome> {
  const { command, timeoutMs, stop, clock } = options;
  const result = await runCommand(command, { env: {}, timeoutMs });
  if (stop.requested) return { kind: 'stopping' };
  if (!result.ok) return { kind: 'failed', reason: describeFailure('reboot command', result, timeoutMs) };
  try {
    await sleep(timeoutMs, stop.soft, clock);
  } catch {
    return { kind: 'stopping' };
  }
  return { kind: 'failed', reason: `no reboot within ${timeoutMs / 1000} s of the reboot command` };
}
