// What the end-to-end rollouts through the fault proxy share: the warn lines a lossy path
// explains, and a bounded watch of the rollout that fails naming where each node was.

import type { StatusView } from '../../src/fleet/views.js';
import type { ExpectedLine, Fleet } from './fleet.js';

/** What a lossy path explains: an exchange unanswered for a whole retransmission span
 * (about 1 in 170 at 20 % loss), a node quiet for long enough to be called offline,
 * and a DTLS handshake (the liveness probe's, after unanswered retransmissions) whose
 * flights were all lost. (A `downloaded` report overtaken by the install grant is
 * acknowledged by the gateway now, no longer a 4.09.) */
export const LOSS_SYMPTOMS: readonly ExpectedLine[] = [
  /^(download interrupted; resumes later|install request failed|observing \/updates failed|registration failed; trying again|node offline|dtls handshake failed: queued datagrams dropped)$/,
];

/** `node-1: downloading 37 % [1024 B x 12, rtt 45 ms, loss 0.21], node-2: installed 100 %, …`
 * (with each node's transfer figures and error, when it has them). */
export function describeNodes(view: StatusView | undefined): string {
  if (view === undefined) return 'no status seen';
  return Object.entries(view.nodes).map(([id, entry]) => {
    const transfer = entry.transfer === undefined ? ''
      : ` [${entry.transfer.block_size} B x ${entry.transfer.window}, rtt ${entry.transfer.rtt_ms ?? '?'} ms, loss ${entry.transfer.loss.toFixed(2)}]`;
    return `${id}: ${entry.state} ${Math.round(entry.progress * 100)} %${transfer}${entry.error === null ? '' : ` (${entry.error})`}`;
  }).join(', ');
}

/** Observes the rollout until it ends or `timeoutMs` passes; on a timeout the error names
 * each node's last state and progress. Resolves with the last view. */
export function watchThroughLoss(fleet: Fleet, updateId: string, timeoutMs: number): Promise<StatusView> {
  let last: StatusView | undefined;
  return fleet.watch(updateId, timeoutMs, (view) => { last = view; }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message} (${describeNodes(last)})`);
  });
}
