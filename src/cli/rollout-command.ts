// `coap-fleet rollout watch ID`: flags in, src/operator's rollout watch (Observe on
// /updates/{id}/status until the rollout ends), out a progress bar per node on a terminal,
// a line per change otherwise, JSON lines with --json.

import { isValidId } from '../fleet/paths.js';
import type { NodeUpdateStatus } from '../fleet/update-state.js';
import { isRolloutOver, rolloutSucceeded, watchRollout } from '../operator/rollout-watch.js';
import type { StatusView } from '../fleet/views.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import { lossPercent, milliseconds } from './node-tables.js';
import type { CliIo, OutputStream } from './output.js';

const FLAGS = {
  json: { type: 'boolean', description: 'one JSON object per status change' },
  timeout: { type: 'string', value: 'SECONDS', description: 'give up after this long (exit 3)' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const rolloutUsage = (): string => 'Usage: coap-fleet rollout watch ID [--gateway URI] [--credentials FILE] [--json]\n\n'
  + 'Shows the rollout of update ID live until it ends: exit 0 when every target installed,\n'
  + '1 when it completed otherwise, was aborted or cancelled.\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

const BAR_WIDTH = 24;

/** One node's line: id, a bar of its progress, state, error; while it downloads, the
 * block size, window, RTT and loss its transfer reports. */
export function nodeLine(id: string, status: NodeUpdateStatus, idWidth: number): string {
  const fraction = status.state === 'installed' || status.state === 'downloaded' || status.state === 'installing' ? 1 : status.progress;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const { transfer } = status;
  const figures = status.state !== 'downloading' || transfer === undefined ? ''
    : `  (${transfer.block_size} B x ${transfer.window}, RTT ${milliseconds(transfer.rtt_ms)}, loss ${lossPercent(transfer.loss)})`;
  return `${id.padEnd(idWidth)}  ${bar} ${percent}  ${status.state}${status.error === null ? '' : `: ${status.error}`}${figures}`;
}

/** Draws the status views as they come: redrawn in place on a terminal. */
function renderer(stream: OutputStream, json: boolean): (view: StatusView) => void {
  let drawnLines = 0;
  const lastLine = new Map<string, string>();
  const terminal = (stream as { isTTY?: boolean }).isTTY === true;
  return (view) => {
    if (json) {
      stream.write(`${JSON.stringify(view)}\n`);
      return;
    }
    const ids = Object.keys(view.nodes).sort();
    const width = Math.max(4, ...ids.map((id) => id.length));
    const counts = Object.entries(view.counts).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`).join(', ');
    const header = `${view.update_id}: ${view.rollout} (${counts})`;
    const lines = [header, ...ids.map((id) => nodeLine(id, view.nodes[id]!, width))];
    if (terminal) {
      stream.write(`${drawnLines > 0 ? `\u001b[${drawnLines}A` : ''}${lines.map((line) => `\r${line}\u001b[K`).join('\n')}\n`);
      drawnLines = lines.length;
      return;
    }
    // Not a terminal: a line per node whose line changed (progress in 10 % steps).
    for (const id of ids) {
      const status = view.nodes[id]!;
      const key = `${status.state}|${Math.floor(status.progress * 10)}|${status.error}`;
      if (lastLine.get(id) !== key) stream.write(`${nodeLine(id, status, width)}\n`);
      lastLine.set(id, key);
    }
    if (isRolloutOver(view)) stream.write(`${header}\n`);
  };
}

export async function runRolloutCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(rolloutUsage());
    return 0;
  }
  const [verb, id, ...rest] = positionals;
  if (verb !== 'watch' || id === undefined || rest.length > 0) throw new UsageError('expected: rollout watch ID');
  if (!isValidId(id)) throw new UsageError(`${JSON.stringify(id)} is not an update id`);
  const timeoutMs = flags.timeout === undefined ? undefined : parseNumber(flags.timeout, 'timeout', { min: 1, max: 86_400 }) * 1000;
  const view = await watchRollout(await gatewayOptions(flags), id, renderer(io.stdout, flags.json === true), timeoutMs);
  return rolloutSucceeded(view) ? 0 : 1;
}
