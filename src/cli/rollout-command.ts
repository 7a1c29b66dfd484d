// `coap-fleet rollout list|status|pause|resume|cancel|watch`: flags in, src/operator's
// rollouts (the list, one rollout with its waves, the operator's moves) and rollout watch
// (Observe on /updates/{id}/status until the rollout ends: a progress bar per node and a
// line of waves on a terminal, a line per change otherwise, JSON lines with --json).

import { isValidId } from '../fleet/paths.js';
import type { NodeUpdateStatus } from '../fleet/update-state.js';
import type { HealthEvidence } from '../fleet/health-gate.js';
import type { WaveView } from '../fleet/rollout-plan.js';
import { openGateway } from '../operator/gateway-client.js';
import { isRolloutOver, rolloutSucceeded, watchRollout } from '../operator/rollout-watch.js';
import { listRollouts, moveRollout, readRollout, type RolloutMove } from '../operator/rollouts.js';
import type { StatusView, UpdateDetail, UpdateSummary } from '../fleet/views.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import { lossPercent, milliseconds } from './node-tables.js';
import { formatTable, type CliIo, type OutputStream } from './output.js';

const FLAGS = {
  json: { type: 'boolean', description: 'the gateway\'s JSON (watch: one object per status change)' },
  timeout: { type: 'string', value: 'SECONDS', description: 'watch: give up after this long (exit 3)' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const rolloutUsage = (): string => 'Usage: coap-fleet rollout list [--json]\n'
  + '       coap-fleet rollout status|pause|resume|cancel ID [--json]\n'
  + '       coap-fleet rollout watch ID [--timeout SECONDS] [--json]\n'
  + '  (each with [--gateway URI] [--credentials FILE])\n\n'
  + 'list: every update with its rollout state and counts. status: one rollout, its policy\n'
  + 'and waves. pause stops new installs (those under way finish), resume starts them again,\n'
  + 'cancel ends the rollout for good. watch shows the rollout live until it ends: exit 0\n'
  + 'when every target installed, 1 when it completed otherwise, was aborted or cancelled.\n\n'
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
    const waves = [...(view.waves === undefined ? [] : [wavesLine(view.waves)]), ...(view.health_breach === undefined ? [] : [healthLine(view.health_breach)])];
    const lines = [header, ...waves, ...ids.map((id) => nodeLine(id, view.nodes[id]!, width))];
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
    const wavesNow = waves.join('\n');
    if (wavesNow !== '' && wavesNow !== lastLine.get('\u0000waves')) stream.write(`${wavesNow}\n`);
    lastLine.set('\u0000waves', wavesNow);
    if (isRolloutOver(view)) stream.write(`${header}\n`);
  };
}

/** "waves: 1 done (1/1) · 2 baking until 12:10:00Z (3/3) · 3 waiting (0/6)". */
export function wavesLine(waves: readonly WaveView[]): string {
  return `waves: ${waves.map((wave) => `${wave.wave} ${wave.state}${wave.bake_until === null ? '' : ` until ${wave.bake_until.slice(11, 19)}Z`}`
    + ` (${wave.installed}/${wave.targets}${wave.failed > 0 ? `, ${wave.failed} failed` : ''})`).join(' · ')}`;
}

/** "health gate paused the rollout at wave 2: node-1 cpu_percent 80 (baseline 10, limit 30)". */
export function healthLine(evidence: HealthEvidence): string {
  const { action, wave, node, figure, observed, baseline, limit } = evidence;
  const against = figure === 'restarts' ? `at most ${limit}` : `baseline ${baseline}, limit ${limit}`;
  return `health gate ${action === 'pause' ? 'paused' : 'aborted'} the rollout after wave ${wave}: ${node} ${figure} ${observed} (${against}) at ${evidence.at}`;
}

/** `rollout list`: one row per update. */
export function rolloutsTable(updates: readonly UpdateSummary[]): string {
  const rows = [['UPDATE', 'VERSION', 'ROLLOUT', 'TARGETS', 'IMAGE', 'CREATED']];
  for (const update of updates) {
    rows.push([update.update_id, update.version, update.rollout, String(update.target_nodes.length), update.image_ready ? 'ready' : 'missing', update.created_at]);
  }
  return formatTable(rows);
}

/** `rollout status`: the rollout, its counts, its plan and its waves. */
export function rolloutText(detail: UpdateDetail): string {
  const counts = Object.entries(detail.counts).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`).join(', ');
  const { policy } = detail;
  const plan = [
    `at most ${policy.max_parallel_installs} at once`, policy.canary > 0 ? `${policy.canary} canaries` : '',
    `abort at ${policy.failure_threshold} failure(s)`, policy.wave_failure_threshold === undefined ? '' : `or ${policy.wave_failure_threshold} in a wave`,
    policy.waves === undefined ? '' : `waves ${policy.waves.join(',')}${policy.bake_s === undefined ? '' : `, bake ${policy.bake_s} s`}`,
    policy.window === undefined ? '' : `window ${policy.window}`,
    ...Object.entries(policy.group_windows ?? {}).map(([tag, window]) => `tag ${tag}: window ${window}`),
    policy.health_gate === undefined ? '' : `health gate ${JSON.stringify(policy.health_gate)}`,
  ].filter((part) => part !== '');
  return [
    `${detail.update_id}: version ${detail.version}, ${detail.rollout} (operator: ${detail.operator_state}), ${detail.targets} target(s): ${counts}`,
    `policy: ${plan.join('; ')}`,
    ...(detail.waves === undefined ? [] : [wavesLine(detail.waves)]),
    ...(detail.health_breach === undefined ? [] : [healthLine(detail.health_breach)]),
  ].join('\n') + '\n';
}

const MOVES: Readonly<Record<string, RolloutMove>> = { pause: 'pause', resume: 'resume', cancel: 'cancel' };

export async function runRolloutCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(rolloutUsage());
    return 0;
  }
  const [verb, id, ...rest] = positionals;
  const json = flags.json === true;
  if (verb === 'list') {
    if (id !== undefined) throw new UsageError('rollout list takes no argument');
    const gateway = await openGateway(await gatewayOptions(flags));
    try {
      const updates = await listRollouts(gateway);
      io.stdout.write(json ? `${JSON.stringify({ updates })}\n` : rolloutsTable(updates));
    } finally {
      await gateway.close();
    }
    return 0;
  }
  if ((verb !== 'watch' && verb !== 'status' && (verb === undefined || !Object.hasOwn(MOVES, verb))) || id === undefined || rest.length > 0) {
    throw new UsageError('expected: rollout list, or rollout status|pause|resume|cancel|watch ID');
  }
  if (!isValidId(id)) throw new UsageError(`${JSON.stringify(id)} is not an update id`);
  if (flags.timeout !== undefined && verb !== 'watch') throw new UsageError('--timeout goes with watch');
  if (verb === 'watch') {
    const timeoutMs = flags.timeout === undefined ? undefined : parseNumber(flags.timeout, 'timeout', { min: 1, max: 86_400 }) * 1000;
    const view = await watchRollout(await gatewayOptions(flags), id, renderer(io.stdout, json), timeoutMs);
    return rolloutSucceeded(view) ? 0 : 1;
  }
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    const detail = verb === 'status' ? await readRollout(gateway, id) : await moveRollout(gateway, id, MOVES[verb]!);
    io.stdout.write(json ? `${JSON.stringify(detail)}\n` : rolloutText(detail));
  } finally {
    await gateway.close();
  }
  return 0;
}
