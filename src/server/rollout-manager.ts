// The rollout manager: the gateway's side of an update, its rollout over the target nodes
// (DESIGN §1, §5): creating updates, the operator's pause, resume, policy change and
// cancel, install gating and the nodes' status reports. Each operation is one store
// transaction that checks, then writes, then is flushed to disk before the caller answers;
// concurrent requests (two nodes asking to install at once) are serialized by it.

import { decideInstall, type InstallDecision } from '../fleet/rollout.js';
import { parsePolicy, signedBytes, type Manifest, type UpdatePolicy } from '../fleet/manifest.js';
import type { StatusReport } from '../fleet/schemas.js';
import { acceptsReport, isTerminal, type RolloutState } from '../fleet/update-state.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { digestOf } from '../fleet/image-checksum.js';
import { gatewayPath } from '../fleet/paths.js';
import { linkQuality } from '../fleet/link-quality.js';
import type { ImageStore } from './image-store.js';
import type { OperatorState, RolloutRecord } from './records.js';
import { rolloutOf } from './representations.js';
import { notFound } from './replies.js';
import type { GatewayStore } from './store.js';

export interface UpdateChange {
  readonly state?: 'active' | 'paused';
  /** Fields to change; the others keep their current values. */
  readonly policy?: Readonly<Record<string, unknown>>;
}

/** A status report taken: the node's state before, the rollout's before and after. */
export interface ReportOutcome {
  readonly previous: StatusReport['state'];
  readonly rolloutBefore: RolloutState;
  readonly rolloutAfter: RolloutState;
  /** A report the node's own install request made stale: acknowledged, nothing changed. */
  readonly stale?: true;
}

const conflict = (reason: string): ResponseError => new ResponseError(ResponseCode.Conflict, reason, { diagnostic: reason });

/** `existing` when `manifest` may resume its publish: the same signed fields and
 * signature (the policy is not signed, and an operator may have changed it since), not
 * cancelled, image not yet uploaded; else the 4.09 saying why not. */
function resumable(existing: RolloutRecord, manifest: Manifest): RolloutRecord {
  const id = manifest.update_id;
  if (existing.manifest.signature !== manifest.signature || !signedBytes(existing.manifest).equals(signedBytes(manifest))) {
    throw conflict(`update ${id} exists with another manifest`);
  }
  if (existing.operator_state === 'cancelled') throw conflict(`update ${id} exists and is cancelled`);
  if (existing.image_ready) throw conflict(`update ${id} exists and its image is uploaded`);
  return existing;
}

export class RolloutManager {
  readonly #store: GatewayStore;
  readonly #images: ImageStore;
  readonly #now: () => Date;

  constructor(store: GatewayStore, images: ImageStore, now: () => Date) {
    this.#store = store;
    this.#images = images;
    this.#now = now;
  }

  /** A new update, active at once; `image_ready` already when the store holds its image
   * (content-addressed: an image uploaded for an earlier update counts). The same signed
   * manifest again, while its image is not uploaded, is a publish resumed: the update as
   * it is, `created` false. Any other use of a taken id is 4.09. */
  async create(manifest: Manifest, who: string): Promise<{ readonly record: RolloutRecord; readonly created: boolean }> {
    const imageReady = await this.#images.has({ sha256: digestOf(manifest.checksum), size: manifest.size });
    const at = this.#now().toISOString();
    const record: RolloutRecord = { manifest, operator_state: 'active', image_ready: imageReady, created_at: at, created_by: who };
    return this.#store.atomically((writer) => {
      const existing = this.#store.getUpdate(manifest.update_id);
      if (existing !== undefined) return { record: resumable(existing, manifest), created: false };
      writer.putUpdate(record);
      writer.audit({ at, who, action: 'update.create', target: gatewayPath.update(manifest.update_id), detail: `version ${manifest.version}, ${manifest.target_nodes.length} targets` });
      return { record, created: true };
    });
  }

  /** Pause, resume or a new policy; 4.09 on a cancelled update. */
  async change(updateId: string, change: UpdateChange, who: string): Promise<RolloutRecord> {
    const at = this.#now().toISOString();
    return this.#store.atomically((writer) => {
      const current = this.#existing(updateId);
      if (current.operator_state === 'cancelled') throw conflict(`update ${updateId} is cancelled`);
      const problems: string[] = [];
      const policy: UpdatePolicy = change.policy === undefined ? current.manifest.policy
        : parsePolicy({ ...current.manifest.policy, ...change.policy }, problems);
      if (problems.length > 0) throw new ResponseError(ResponseCode.BadRequest, problems.join('; '), { diagnostic: problems.join('; ') });
      const operatorState: OperatorState = change.state ?? current.operator_state;
      const next: RolloutRecord = { ...current, operator_state: operatorState, manifest: { ...current.manifest, policy } };
      writer.putUpdate(next);
      const what = [change.state === undefined ? '' : `state ${operatorState}`, change.policy === undefined ? '' : `policy ${JSON.stringify(policy)}`];
      writer.audit({ at, who, action: 'update.change', target: gatewayPath.update(updateId), detail: what.filter((part) => part !== '').join(', ') });
      return next;
    });
  }

  /** Cancels; cancelling again changes nothing. */
  async cancel(updateId: string, who: string): Promise<RolloutRecord> {
    const at = this.#now().toISOString();
    return this.#store.atomically((writer) => {
      const current = this.#existing(updateId);
      if (current.operator_state === 'cancelled') return current;
      const next: RolloutRecord = { ...current, operator_state: 'cancelled' };
      writer.putUpdate(next);
      writer.audit({ at, who, action: 'update.cancel', target: gatewayPath.update(updateId) });
      return next;
    });
  }

  /** The image is in the firmware store. */
  async imageStored(updateId: string, who: string): Promise<RolloutRecord> {
    const at = this.#now().toISOString();
    return this.#store.atomically((writer) => {
      const current = this.#existing(updateId);
      const next: RolloutRecord = { ...current, image_ready: true };
      writer.putUpdate(next);
      writer.audit({ at, who, action: 'update.image', target: gatewayPath.download(updateId), detail: current.manifest.checksum });
      return next;
    });
  }

  /** A target asks to install now. A go records it as `installing` (it holds one of the
   * policy's parallel slots from then on); otherwise the decision says when to ask again
   * or that it never will. 4.09 when the node is done with this update already. */
  async requestInstall(updateId: string, nodeId: string, who: string): Promise<InstallDecision> {
    const at = this.#now().toISOString();
    return this.#store.atomically((writer) => {
      const update = this.#existing(updateId);
      const statuses = this.#store.statusesOf(update);
      const own = statuses.get(nodeId);
      if (own === undefined) throw new ResponseError(ResponseCode.Forbidden, `${nodeId} is not a target`, { diagnostic: 'not a target' });
      if (isTerminal(own.state)) throw conflict(`${nodeId} is ${own.state} already`);
      const decision = decideInstall(rolloutOf(update, statuses), update.manifest.policy, update.manifest.target_nodes, statuses, nodeId);
      if (decision.go && own.state !== 'installing') {
        writer.putStatus(updateId, nodeId, { ...own, state: 'installing', error: null, updated_at: at });
        writer.audit({ at, who, action: 'install.grant', target: gatewayPath.install(updateId), detail: nodeId });
      }
      return decision;
    });
  }

  /** A node's own status report, taken when it moves forward (fleet/update-state.ts);
   * 4.09 for a move backwards or out of a final state. Its transfer figures, with
   * `gatewayRttMs` (the gateway's own RTT to the node), become the node's link. */
  async report(updateId: string, nodeId: string, report: StatusReport, who: string, gatewayRttMs?: number): Promise<ReportOutcome> {
    const at = this.#now().toISOString();
    return this.#store.atomically((writer) => {
      const update = this.#existing(updateId);
      const statuses = this.#store.statusesOf(update);
      const previous = statuses.get(nodeId);
      if (previous === undefined) throw new ResponseError(ResponseCode.Forbidden, `${nodeId} is not a target`, { diagnostic: 'not a target' });
      const rolloutBefore = rolloutOf(update, statuses);
      // The node asked to install (which only a node with the image does) before its
      // `downloaded` report arrived, slow or retransmitted: the grant made it `installing`,
      // and the report says nothing the gateway does not know. Acknowledged, not refused:
      // a 4.09 here is no conflict, only two messages crossing.
      if (previous.state === 'installing' && report.state === 'downloaded' && report.error === null) {
        return { previous: previous.state, rolloutBefore, rolloutAfter: rolloutBefore, stale: true };
      }
      if (!acceptsReport(previous.state, report.state)) throw conflict(`cannot move from ${previous.state} to ${report.state}`);
      // The transfer figures come with the reports of the download; later ones keep them.
      const transfer = report.transfer ?? previous.transfer;
      const next = { state: report.state, progress: report.progress, error: report.error, updated_at: at, ...(transfer === undefined ? {} : { transfer }) };
      statuses.set(nodeId, next);
      const rolloutAfter = rolloutOf(update, statuses);
      writer.putStatus(updateId, nodeId, next);
      const node = this.#store.getNode(nodeId);
      if (node !== undefined) writer.putNode({ ...node, last_seen: at, ...(report.transfer === undefined ? {} : { link: linkQuality(report.transfer, at, gatewayRttMs) }) });
      if (previous.state !== report.state && isTerminal(report.state)) {
        writer.audit({ at, who, action: `update.${report.state}`, target: gatewayPath.status(updateId), detail: report.error ?? nodeId });
      }
      if (rolloutAfter !== rolloutBefore) {
        writer.audit({ at, who: 'gateway', action: `rollout.${rolloutAfter}`, target: gatewayPath.update(updateId), detail: `after ${nodeId} reported ${report.state}` });
      }
      return { previous: previous.state, rolloutBefore, rolloutAfter };
    });
  }

  #existing(updateId: string): RolloutRecord {
    const update = this.#store.getUpdate(updateId);
    if (update === undefined) throw notFound(`update ${updateId}`);
    return update;
  }
}
