// The dry run of a publish (issue 13): before anything is signed or uploaded, each target
// is asked through the gateway — its node view (presence, version, the link the gateway
// measured) and its agent's readiness for an image of this size (room, slots, an install
// in flight) — and judged: who would fail and why, who would pass; and the update id is
// looked up, since the gateway refuses a publish over an existing update (4.09). Read-only:
// GETs of /updates/{id}, /nodes/{id} and /nodes/{id}/update-readiness; nothing is created.

import { compareVersions } from '../fleet/version.js';
import { gatewayPath } from '../fleet/paths.js';
import type { LinkQuality } from '../fleet/link-quality.js';
import { nextOpening } from '../fleet/maintenance-window.js';
import { waveEnds, windowFor, type RolloutPlan } from '../fleet/rollout-plan.js';
import type { ReadinessView } from '../fleet/update-readiness.js';
import type { NodeView, UpdateDetail } from '../fleet/views.js';
import { describeCode, Method, ResponseCode } from '../protocol/codes.js';
import { GatewayError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';
import { readNode, viewOf } from './node-reads.js';

/** Targets asked at once: each costs the gateway a forwarded request to an agent (bounded
 * there too, node-link.ts); a fleet of thousands is asked this many at a time. */
export const DRY_RUN_CONCURRENCY = 8;

/** Loss of this share of blocks or more is worth a warning: a download over it is mostly resends. */
export const POOR_LINK_LOSS = 0.2;
/** An estimated download longer than this is worth a warning. */
export const SLOW_DOWNLOAD_S = 3600;
/** Longer than this the download is not going to happen: a failure. */
export const ABSURD_DOWNLOAD_S = 7 * 86_400;

const READINESS_FIELDS = { node_id: 'string', version: 'string', space: 'object', slots: 'object', problems: 'array' } as const;

export interface DryRunRequest {
  readonly updateId: string;
  readonly targets: readonly string[];
  /** The version the publish would sign. */
  readonly version: string;
  readonly imageBytes: number;
  /** The policy's rollout plan: which wave each target is in, when its window opens. */
  readonly plan?: RolloutPlan;
  readonly concurrency?: number;
}

/** What the judgement reads of the request, with the time the windows are read at. */
export type Judged = Pick<DryRunRequest, 'updateId' | 'version' | 'imageBytes' | 'plan'> & { readonly now: number };

/** What was learnt of one target: its node view and its readiness, or why not. */
export interface TargetProbe {
  readonly nodeId: string;
  readonly node: NodeView | { readonly problem: string };
  /** Undefined when not asked (the node is unknown or offline). */
  readonly readiness?: ReadinessView | { readonly problem: string; readonly unsupported: boolean };
}

export interface NodeVerdict {
  readonly node_id: string;
  readonly pass: boolean;
  /** Why it would fail: any one is enough. */
  readonly failures: readonly string[];
  /** What an operator should know but would not stop the install. */
  readonly warnings: readonly string[];
  readonly online: boolean | null;
  readonly version: string | null;
  readonly install_system: string | null;
  readonly usable_bytes: number | null;
  readonly needed_bytes: number | null;
  /** From the link the gateway measured; null without figures. */
  readonly estimated_download_s: number | null;
  /** Its wave (1-based) with a plan of waves; null without. */
  readonly wave: number | null;
  /** When its maintenance window opens, if it is closed now; null: it may install now. */
  readonly window_opens_at: string | null;
}

export interface DryRunReport {
  readonly update_id: string;
  readonly version: string;
  readonly image_bytes: number;
  /** Why the publish itself would be refused (the update id is taken); warnings about it. */
  readonly update_failures: readonly string[];
  readonly update_warnings: readonly string[];
  readonly passed: number;
  readonly failed: number;
  /** In the order of the targets. */
  readonly nodes: readonly NodeVerdict[];
}

/** Looks the update id up, asks every target (at most `concurrency` at once) and judges. */
export async function dryRun(gateway: GatewayClient, request: DryRunRequest): Promise<DryRunReport> {
  const existing = await existingUpdate(gateway, request.updateId);
  const probes = await mapBounded(request.targets, request.concurrency ?? DRY_RUN_CONCURRENCY, (nodeId) => probeTarget(gateway, nodeId, request.imageBytes));
  return judgeDryRun(probes, existing, { ...request, now: Date.now() });
}

/** GET /updates/{id}: the update of that id, or undefined when there is none. */
async function existingUpdate(gateway: GatewayClient, updateId: string): Promise<UpdateDetail | undefined> {
  try {
    return await gateway.json<UpdateDetail>(Method.GET, gatewayPath.update(updateId));
  } catch (error) {
    if (error instanceof GatewayError && error.responseCode === ResponseCode.NotFound) return undefined;
    throw error;
  }
}

/** One target's node view and, when it is online, its readiness. A refusal or a node out of
 * reach is the target's problem; the gateway itself out of reach (a timeout, a transport
 * error) ends the dry run. */
async function probeTarget(gateway: GatewayClient, nodeId: string, imageBytes: number): Promise<TargetProbe> {
  let node: NodeView;
  try {
    node = await readNode(gateway, nodeId);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    return { nodeId, node: { problem: error.responseCode === ResponseCode.NotFound ? 'not registered with the gateway' : error.message } };
  }
  if (!node.online) return { nodeId, node };
  const path = `${gatewayPath.readiness(nodeId)}?size=${imageBytes}`;
  try {
    const response = await gateway.send(Method.GET, path);
    return { nodeId, node, readiness: viewOf<ReadinessView>(response.payload, path, READINESS_FIELDS) };
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    // The gateway knows the route: a 4.04 is the agent's, from a release before it.
    if (error.responseCode === ResponseCode.NotFound) {
      return { nodeId, node, readiness: { problem: 'its agent does not answer /update-readiness (a release before it)', unsupported: true } };
    }
    const diagnostic = error.diagnostic === undefined ? '' : ` (${error.diagnostic})`;
    return { nodeId, node, readiness: { problem: `unreachable: ${describeCode(error.responseCode)}${diagnostic}`, unsupported: false } };
  }
}

/** `work` over `items`, at most `limit` at once; results in the items' order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

// ---- pure ---------------------------------------------------------------------------

export function judgeDryRun(probes: readonly TargetProbe[], existing: UpdateDetail | undefined, request: Judged): DryRunReport {
  const ends = request.plan?.waves === undefined ? undefined : waveEnds(request.plan.waves, probes.length);
  const nodes = probes.map((probe, index) => judgeTarget(probe, request, ends === undefined ? null : ends.findIndex((end) => index < end) + 1));
  const passed = nodes.filter((node) => node.pass).length;
  const update = judgeExisting(existing, request.updateId);
  return {
    update_id: request.updateId, version: request.version, image_bytes: request.imageBytes,
    update_failures: update.failures, update_warnings: update.warnings, passed, failed: nodes.length - passed, nodes,
  };
}

/** The gateway takes a publish over an existing update only to resume its upload: the
 * very same signed manifest, not cancelled, image not uploaded yet (rollout-manager.ts);
 * whether the manifest would be the same is known only once it is signed. */
function judgeExisting(existing: UpdateDetail | undefined, updateId: string): { failures: string[]; warnings: string[] } {
  if (existing === undefined) return { failures: [], warnings: [] };
  if (existing.operator_state === 'cancelled') return { failures: [`update ${updateId} exists and is cancelled: the gateway would refuse the publish (4.09)`], warnings: [] };
  if (existing.image_ready) return { failures: [`update ${updateId} exists and its image is uploaded: the gateway would refuse the publish (4.09)`], warnings: [] };
  return { failures: [], warnings: [`update ${updateId} exists without its image: only the very same manifest resumes its upload (else 4.09)`] };
}

/** One target's verdict: offline or unknown, unreachable, not enough room, an unhealthy or
 * busy slot, already at or past the version fail it; a poor or slow link warns, and fails
 * it only when the download would take longer than ABSURD_DOWNLOAD_S. */
export function judgeTarget(probe: TargetProbe, request: Judged, wave: number | null): NodeVerdict {
  const failures: string[] = [];
  const warnings: string[] = [];
  const node = 'problem' in probe.node ? undefined : probe.node;
  if ('problem' in probe.node) failures.push(probe.node.problem);
  else if (!probe.node.online) failures.push(`offline (last seen ${probe.node.last_seen})`);
  const readiness = probe.readiness === undefined || 'problem' in probe.readiness ? undefined : probe.readiness;
  if (probe.readiness !== undefined && 'problem' in probe.readiness) {
    (probe.readiness.unsupported ? warnings : failures).push(probe.readiness.problem);
  }
  for (const problem of readiness?.problems ?? []) failures.push(problem.message);
  const version = readiness?.version ?? node?.version ?? null;
  const atOrPast = version === null ? undefined : versionProblem(version, request.version);
  if (atOrPast !== undefined) failures.push(atOrPast);
  const estimate = node?.link == null ? null : estimateDownloadS(node.link, request.imageBytes);
  if (node?.link != null) {
    const link = node.link;
    if (estimate !== null && estimate > ABSURD_DOWNLOAD_S) {
      failures.push(`link too poor to download ${request.imageBytes} bytes (loss ${percent(link.loss)}, RTT ${rttOf(link) ?? '?'} ms, measured ${link.measured_at})`);
    } else {
      if (link.loss >= POOR_LINK_LOSS) warnings.push(`poor link: loss ${percent(link.loss)} (measured ${link.measured_at})`);
      if (estimate !== null && estimate > SLOW_DOWNLOAD_S) warnings.push(`slow link: the download would take about ${Math.round(estimate / 60)} min`);
    }
  }
  return {
    node_id: probe.nodeId, pass: failures.length === 0, failures, warnings,
    online: node?.online ?? null, version, install_system: readiness?.install_system ?? null,
    usable_bytes: readiness?.space.usable_bytes ?? null, needed_bytes: readiness?.space.needed_bytes ?? null,
    estimated_download_s: estimate === null || !Number.isFinite(estimate) ? null : Math.round(estimate * 10) / 10,
    wave, window_opens_at: windowOpening(request, node?.tags ?? []),
  };
}

/** When the window of a node with `tags` opens (the window the gateway's /install gate
 * applies to it); null when it is open now or there is none. */
function windowOpening({ plan, now }: Judged, tags: readonly string[]): string | null {
  const window = plan === undefined ? undefined : windowFor(plan, tags);
  const opening = window === undefined ? now : nextOpening(window, now);
  return opening === now ? null : new Date(opening).toISOString();
}

/** Agents refuse a version not newer than theirs (anti-rollback, DESIGN §6). */
function versionProblem(installed: string, version: string): string | undefined {
  let order: number;
  try {
    order = compareVersions(installed, version);
  } catch {
    return `runs version ${JSON.stringify(installed.slice(0, 64))}, which cannot be compared`;
  }
  if (order === 0) return `already runs ${version}`;
  return order > 0 ? `runs ${installed}, past ${version} (agents refuse an older version)` : undefined;
}

/** Seconds to download `imageBytes` over `link`: a burst of `window` blocks per round trip
 * (RFC 9177 §7.2), each block resent until it arrives (1 / (1 − loss) sends on average);
 * null without an RTT, Infinity when nothing gets through. */
export function estimateDownloadS(link: LinkQuality, imageBytes: number): number | null {
  const rttMs = rttOf(link);
  if (rttMs === null) return null;
  if (link.loss >= 1) return Number.POSITIVE_INFINITY;
  const rounds = Math.ceil(Math.ceil(imageBytes / Math.max(16, link.block_size)) / Math.max(1, link.window));
  return (rounds * rttMs) / 1000 / (1 - link.loss);
}

/** The transfer's own smoothed RTT, else the gateway's of the node's session. */
const rttOf = (link: LinkQuality): number | null => link.rtt_ms ?? link.gateway_rtt_ms;

const percent = (share: number): string => `${Math.round(share * 1000) / 10} %`;
