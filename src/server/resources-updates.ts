// The update resources of the gateway (DESIGN §5): /updates (a node's view of what it can
// still act on, the operator's in pages; manifests posted block-wise), /updates/{id} and
// its download (Block2 from the firmware store, Block1 upload into it, RFC 7959), install
// (rollout gating: 2.04 go, 5.03 with Max-Age, 4.03 for good) and status (each node's own
// entry). Observers hear of every change that alters what they would GET.

import type { KeyObject } from 'node:crypto';
import { parseManifest, verifyManifest, MAX_IMAGE_SIZE, MAX_MANIFEST_BYTES } from '../fleet/manifest.js';
import { GatewayRoute, gatewayPath, isValidId } from '../fleet/paths.js';
import { parseStatusReport } from '../fleet/schemas.js';
import { isTerminal } from '../fleet/update-state.js';
import { immutableFileBody } from '../protocol/body.js';
import { ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { ResponseError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';
import { getUintOption, OptionNumber, uintOption } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import type { Alerts } from './alerts.js';
import { queryValue } from './authorization.js';
import { BodyBudget, BufferUpload } from './buffer-upload.js';
import { digestOf, imageEtag } from '../fleet/image-checksum.js';
import { ImageUpload, type ImageStore } from './image-store.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import type { RolloutRecord } from './records.js';
import { locationOf, notFound, objectBody, readBody, reply } from './replies.js';
import {
  listedForNode, rolloutOf, statusView, updateDetail, updateSummary, type UpdatePage, type UpdateSummary,
} from './representations.js';
import { whoOf, type GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';
import type { RolloutManager } from './rollout-manager.js';
import type { BakeAlarms } from './bake-alarms.js';
import { waveProgress } from '../fleet/rollout-plan.js';

export interface UpdateResourcesContext {
  readonly router: GatewayRouter;
  readonly store: GatewayStore;
  readonly images: ImageStore;
  readonly rollouts: RolloutManager;
  readonly alerts: Alerts;
  readonly logger: Logger;
  /** When set, POST /updates refuses manifests it did not sign. */
  readonly publisherKey: KeyObject | undefined;
  /** The gateway's own RTT to a node's session (node-link.ts), kept with its link quality. */
  readonly gatewayRttMs: (nodeId: string) => number | undefined;
  /** The gateway's clock: where the waves stand (baking until when). */
  readonly now: () => Date;
  /** Tells the observers when a wave's bake ends. */
  readonly bakes: BakeAlarms;
}

/** The operator's list comes in pages: this many entries unless `?limit=` says (up to
 * MAX_PAGE_LIMIT), and no more entries than fit about PAGE_BYTES of JSON (but at least
 * one), since one manifest may name 10,000 targets and the page is rendered again for
 * each of its Block2 blocks (RFC 7959 §2.4). */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** Max-Age of a node's view of /updates. An observer that hears nothing for Max-Age
 * registers again (RFC 7641 §3.3.1), and RFC 7252's default of 60 s made every node of the
 * fleet do so every minute, the gateway's largest cost at rest (10,000 nodes: ~150
 * requests/s for a list that changes when an operator acts). Every change is notified
 * confirmably, so a lost notification is sent again (RFC 7252 §4.2); a lost session or relation shows at the node's next CON (DTLS probe, 4.04/RST): ten
 * minutes is how long a relation the gateway dropped silently may go unnoticed. */
export const NODE_UPDATES_MAX_AGE_S = 600;
export const PAGE_BYTES = 64 * 1024;

/** What manifest uploads may hold in memory at once: two of the largest per caller, five
 * in all (the gateway's budget is 200 MB; an image goes to disk, never here). */
export const MANIFEST_UPLOAD_BUDGET = { totalBytes: 5 * MAX_MANIFEST_BYTES, perCallerBytes: 2 * MAX_MANIFEST_BYTES };

export function addUpdateResources(context: UpdateResourcesContext): void {
  const { router, store, images, rollouts, alerts, logger, publisherKey, gatewayRttMs, now, bakes } = context;
  // Manifests being uploaded are held in memory until whole: a few of the largest at once.
  const manifestBodies = new BodyBudget(MANIFEST_UPLOAD_BUDGET);

  const existing = (id: string): RolloutRecord => {
    const update = store.getUpdate(id);
    if (update === undefined) throw notFound(`update ${id}`);
    return update;
  };
  /** The update's own representations changed, and the list too when `listed` (its
   * entries carry the rollout state and image_ready, not the progress). */
  const changed = (id: string, listed = true): void => {
    router.notify(gatewayPath.update(id), gatewayPath.status(id));
    if (listed) router.notify(GatewayRoute.updates);
  };

  /** An alarm at the update's earliest bake end, if a wave is baking. */
  const armBake = (update: RolloutRecord): void => {
    if (update.manifest.policy.waves === undefined) return;
    const statuses = store.statusesOf(update);
    const ends = waveProgress(update.manifest.policy, [...statuses.values()], now().getTime()).waves
      .flatMap((wave) => (wave.bake_until === null ? [] : [Date.parse(wave.bake_until)]));
    if (ends.length > 0) bakes.set(update.manifest.update_id, Math.min(...ends));
  };
  // A restart mid-bake: the alarms of the rollouts still under way.
  for (const update of store.updatesAfter()) if (update.operator_state !== 'cancelled') armBake(update);

  router.add(GatewayRoute.updates, {
    attributes: linkAttributes('updates', { if: 'collection', ct: 'app', obs: true }),
    // Confirmable (RFC 7641 §4.5): with a Max-Age of NODE_UPDATES_MAX_AGE_S a lost NON
    // notification (an image becoming ready, a rollout paused) would go unseen by the node
    // for ten minutes; a change here is rare, so its ACKs cost little even at 10,000 nodes.
    observable: 'confirmable',
    maxBodySize: MAX_MANIFEST_BYTES,
    createSink: (request, caller) => new BufferUpload(MAX_MANIFEST_BYTES, manifestBodies, whoOf(caller.principal, request.peer)),
    handlers: {
      GET: (request, caller) => {
        // A node sees what it can still act on; operators see all, a page at a time, or a
        // node's view with ?node=ID (local tooling acting for a node).
        const node = caller.principal.role === 'node' ? caller.node : queryValue(request.query, 'node');
        if (node !== undefined) return { ...reply(request, { updates: nodeView(node) }), maxAge: NODE_UPDATES_MAX_AGE_S };
        return reply(request, operatorPage(request.query));
      },
      POST: async (request, caller) => {
        const parsed = parseManifest(readBody(request, MAX_MANIFEST_BYTES));
        if ('problems' in parsed) {
          const problems = parsed.problems.join('; ');
          throw new ResponseError(ResponseCode.BadRequest, `bad manifest: ${problems}`, { diagnostic: problems.slice(0, 512) });
        }
        const { manifest } = parsed;
        if (publisherKey !== undefined && !verifyManifest(manifest, publisherKey)) {
          throw new ResponseError(ResponseCode.BadRequest, 'manifest signature does not verify', { diagnostic: 'signature does not verify with the publisher key' });
        }
        const who = whoOf(caller.principal, request.peer);
        const { record, created } = await rollouts.create(manifest, who);
        const location = locationOf(gatewayPath.update(manifest.update_id));
        if (!created) {
          // The publisher lost its upload half way and may send the image again; nothing
          // was created, so not 2.01 (RFC 7252 §5.8.2).
          logger.info({ update: manifest.update_id, who }, 'update publish resumed: image not uploaded yet');
          return { code: ResponseCode.Changed, options: location };
        }
        logger.info({ update: manifest.update_id, version: manifest.version, targets: manifest.target_nodes.length, image_ready: record.image_ready, who }, 'update created');
        router.notify(GatewayRoute.updates);
        return { code: ResponseCode.Created, options: location };
      },
    },
  });

  /** The updates that `node` is offered (representations.ts listedForNode). Its own
   * status is read first, so the history it is done with costs one read per update. */
  function nodeView(node: string): UpdateSummary[] {
    const entries: UpdateSummary[] = [];
    for (const update of store.updatesAfter()) {
      const id = update.manifest.update_id;
      if (!update.manifest.target_nodes.includes(node)) continue;
      const own = store.getStatus(id, node)?.state ?? 'pending';
      if (isTerminal(own)) continue;
      const statuses = store.statusesOf(update);
      if (listedForNode(rolloutOf(update, statuses), own)) entries.push(updateSummary(update, statuses));
    }
    return entries;
  }

  /** One page of the operator's list: `?limit=` entries at most (and about PAGE_BYTES,
   * though never fewer than one), after the update `?after=`. */
  function operatorPage(query: readonly string[]): UpdatePage {
    const limitText = queryValue(query, 'limit');
    const limit = limitText === undefined ? DEFAULT_PAGE_LIMIT : Number(limitText);
    if (!/^\d+$/.test(limitText ?? '1') || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new ResponseError(ResponseCode.BadRequest, 'bad limit', { diagnostic: `limit: 1..${MAX_PAGE_LIMIT}` });
    }
    const after = queryValue(query, 'after');
    if (after !== undefined && !isValidId(after)) {
      throw new ResponseError(ResponseCode.BadRequest, 'bad after', { diagnostic: 'after: an update id (the next of the previous page)' });
    }
    const updates: UpdateSummary[] = [];
    let bytes = 0;
    for (const update of store.updatesAfter(after)) {
      const entry = updateSummary(update, store.statusesOf(update));
      const size = JSON.stringify(entry).length;
      if (updates.length === limit || (updates.length > 0 && bytes + size > PAGE_BYTES)) {
        return { updates, next: updates.at(-1)!.update_id };
      }
      updates.push(entry);
      bytes += size;
    }
    return { updates, next: null };
  }

  router.add(GatewayRoute.update, {
    attributes: linkAttributes('update', { if: 'item', ct: 'app', obs: true }),
    observable: true,
    handlers: {
      GET: (request) => {
        const update = existing(request.params.id!);
        return reply(request, updateDetail(update, store.statusesOf(update), now().getTime()));
      },
      PUT: async (request, caller) => {
        const body = objectBody(readBody(request), ['state', 'policy']);
        if (body.state !== undefined && body.state !== 'active' && body.state !== 'paused') {
          throw new ResponseError(ResponseCode.BadRequest, 'bad state', { diagnostic: 'state: "active" or "paused" (cancel with DELETE)' });
        }
        if (body.policy !== undefined && (typeof body.policy !== 'object' || body.policy === null || Array.isArray(body.policy))) {
          throw new ResponseError(ResponseCode.BadRequest, 'bad policy', { diagnostic: 'policy must be an object' });
        }
        const id = request.params.id!;
        const update = await rollouts.change(id, {
          ...(body.state === undefined ? {} : { state: body.state }),
          ...(body.policy === undefined ? {} : { policy: body.policy as Record<string, unknown> }),
        }, whoOf(caller.principal, request.peer));
        logger.info({ update: id, operator_state: update.operator_state, policy: update.manifest.policy }, 'update changed');
        changed(id);
        return { code: ResponseCode.Changed };
      },
      DELETE: async (request, caller) => {
        const id = request.params.id!;
        await rollouts.cancel(id, whoOf(caller.principal, request.peer));
        logger.info({ update: id }, 'update cancelled');
        changed(id);
        return { code: ResponseCode.Deleted };
      },
    },
  });

  router.add(GatewayRoute.download, {
    attributes: linkAttributes('update.image', { if: 'item', ct: 'octets' }),
    maxBodySize: MAX_IMAGE_SIZE,
    createSink: async (request) => {
      const { manifest } = existing(request.params.id!);
      const announced = getUintOption(request.options, OptionNumber.Size1);
      if (announced !== undefined && announced > manifest.size) {
        throw new ResponseError(ResponseCode.RequestEntityTooLarge, `Size1 ${announced} over the manifest's ${manifest.size}`, {
          diagnostic: `the manifest says ${manifest.size} bytes`, options: [uintOption(OptionNumber.Size1, manifest.size)],
        });
      }
      return images.beginUpload({ sha256: digestOf(manifest.checksum), size: manifest.size });
    },
    handlers: {
      GET: (request) => serveImage(request),
      PUT: async (request, caller) => {
        const id = request.params.id!;
        const upload = request.upload;
        if (!(upload instanceof ImageUpload)) throw new ResponseError(ResponseCode.BadRequest, 'no image body');
        try {
          await upload.complete();
        } catch (error) {
          await upload.abort();
          if (error instanceof ResponseError) logger.warn({ update: id, reason: error.message }, 'image upload refused');
          throw error;
        }
        await rollouts.imageStored(id, whoOf(caller.principal, request.peer));
        logger.info({ update: id, bytes: upload.received }, 'image stored');
        changed(id);
        return { code: ResponseCode.Changed };
      },
    },
  });

  /** The image, block by block from its file (RFC 7959 §2.4: any block on request, so a
   * node resumes where it stopped); 4.04 until it is uploaded. */
  async function serveImage(request: CoapRequest): Promise<ResponseInit> {
    const { manifest, image_ready: ready } = existing(request.params.id!);
    if (!ready) throw new ResponseError(ResponseCode.NotFound, 'image not uploaded yet', { diagnostic: 'image not uploaded yet' });
    const sha256 = digestOf(manifest.checksum);
    const size = await images.sizeOf(sha256);
    if (size === undefined) {
      logger.error({ update: manifest.update_id, path: images.pathOf(sha256) }, 'image missing from the firmware store');
      throw new ResponseError(ResponseCode.NotFound, 'image missing', { diagnostic: 'image missing from the store' });
    }
    // The file's own size: an image altered on disk is served as it is, and the node's
    // sha256 check refuses it (DESIGN §6: the gateway is not trusted with integrity).
    return { code: ResponseCode.Content, contentFormat: ContentFormat.OctetStream, etag: imageEtag(sha256), body: immutableFileBody(images.pathOf(sha256), size) };
  }

  router.add(GatewayRoute.install, {
    attributes: linkAttributes('update.install', { if: 'action', ct: 'none' }),
    handlers: {
      POST: async (request, caller) => {
        const id = request.params.id!;
        const node = caller.node!;
        const { decision, breach } = await rollouts.requestInstall(id, node, whoOf(caller.principal, request.peer));
        if (breach !== undefined) {
          logger.warn({ update: id, ...breach }, `health gate: rollout ${breach.action === 'pause' ? 'paused' : 'aborted'}`);
          changed(id);
        }
        if (decision.go) {
          logger.info({ update: id, node }, 'install granted');
          changed(id, false);
          return { code: ResponseCode.Changed };
        }
        if (decision.final) throw new ResponseError(ResponseCode.Forbidden, decision.reason, { diagnostic: decision.reason });
        throw new ResponseError(ResponseCode.ServiceUnavailable, decision.reason, { diagnostic: decision.reason, maxAge: decision.retryAfterSeconds });
      },
    },
  });

  router.add(GatewayRoute.status, {
    attributes: linkAttributes('update.status', { if: 'item', ct: 'app', obs: true }),
    observable: true,
    handlers: {
      GET: (request) => {
        const update = existing(request.params.id!);
        return reply(request, statusView(update, store.statusesOf(update), now().getTime()));
      },
      PUT: async (request, caller) => {
        const id = request.params.id!;
        const node = caller.node!;
        const report = parseStatusReport(readBody(request));
        const outcome = await rollouts.report(id, node, report, whoOf(caller.principal, request.peer), gatewayRttMs(node));
        if (outcome.stale === true) return { code: ResponseCode.Changed };
        if (outcome.previous !== report.state) {
          logger.info({ update: id, node, from: outcome.previous, to: report.state, error: report.error }, 'node update state');
          await alerts.reported(node, id, report.state, report.error);
        }
        const rolloutMoved = outcome.rolloutAfter !== outcome.rolloutBefore;
        if (rolloutMoved) logger.info({ update: id, from: outcome.rolloutBefore, to: outcome.rolloutAfter }, 'rollout state');
        if (isTerminal(report.state)) armBake(existing(id));
        // A node's own final report also drops the update from its own view of the list;
        // it knows that already, and telling every observer of the list would render it
        // once per observer for each of a large rollout's reports.
        changed(id, rolloutMoved);
        // The node's view shows the link quality its transfer figures gave.
        if (report.transfer !== undefined) router.notify(gatewayPath.node(node));
        return { code: ResponseCode.Changed };
      },
    },
  });
}
