// This node's updates (the gateway's side of them is src/server's): offers from the
// /updates observation are checked (manifest, signature, target, anti-rollback) the moment
// they arrive, and the accepted ones are worked one at a time, each from its persisted
// state: download, ask to install (honouring 5.03 Max-Age, bounded), install. A stop lets
// the step in hand end cleanly; an update already terminal on this node is never taken up
// again. Waits and retries run on the agent's clock.

import type { KeyObject } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { CoapResponse } from '../protocol/client.js';
import type { Clock, TimerHandle } from '../protocol/interfaces.js';
import { decodeBody } from '../fleet/payload.js';
import { isTerminal } from '../fleet/update-state.js';
import type { DownloadTuning } from './download-tuning.js';
import { downloadImage } from './downloader.js';
import { RolloutEndedError } from './errors.js';
import type { GatewayLink } from './gateway-link.js';
import type { StopToken, UpdateInstaller, UpdateStore } from './interfaces.js';
import type { DaemonLogger as AgentLogger } from '../fleet/logger.js';
import { checkManifest, offerUpdateId, type TrustContext } from './manifest-check.js';
import { sleep } from './sleep.js';
import type { StatusReporter } from './status-reporter.js';
import type { NodeUpdateRecord } from './store.js';
import { UpdateMachine } from './update-machine.js';

/** What the latest /updates representation says of an update, beside its manifest. A
 * node's view lists what it can still act on (the gateway's listedForNode): an update
 * under way stays listed, a cancelled or aborted one too until this node has reported it
 * ended. So one that leaves the list while still `pending` was withdrawn before this node
 * began: it ends failed ("rollout withdrawn") and is reported. One under way that leaves
 * it (the gateway had not heard of its progress yet) keeps its last offer; the install
 * request's 4.03 then ends it with the gateway's reason. */
interface Offer {
  readonly rollout: string;
  readonly imageReady: boolean;
}

/** `withdrawn` is ours: a pending update the gateway no longer lists. */
const FINISHED_ROLLOUTS = new Set(['cancelled', 'aborted', 'completed', 'withdrawn']);
const MAX_UNUSABLE = 100;
const RETRY_MS = [2000, 5000, 10_000, 30_000, 60_000] as const;

export interface NodeUpdatesDeps {
  readonly store: UpdateStore;
  readonly gateway: GatewayLink;
  readonly reporter: StatusReporter;
  readonly installer: UpdateInstaller;
  readonly log: AgentLogger;
  readonly stop: StopToken;
  /** Retry back-off, 5.03 Max-Age waits and the install_max_wait_s bound on failing requests. */
  readonly clock: Clock;
  readonly nodeId: string;
  readonly publisherKey: KeyObject;
  readonly downloadsDir: string;
  /** Sizes each download's requests (block_transfer). */
  readonly tuning: DownloadTuning;
  readonly installMaxWaitMs: number;
  readonly installedVersion: () => string;
  /** A new version was committed: the registration should say so. */
  readonly onInstalled: () => void;
}

type InstallPermission = { readonly kind: 'go' } | { readonly kind: 'refused' | 'gave-up'; readonly reason: string } | { readonly kind: 'interrupted' };

export class NodeUpdates {
  readonly #deps: NodeUpdatesDeps;
  /** By update id: set from each representation; entries of terminal updates no longer
   * listed are dropped after each one, so the table holds the list plus those under way. */
  readonly #offers = new Map<string, Offer>();
  /** Per update: not before this time (ms) after an error, and how many in a row; removed
   * when a step succeeds or the update is no longer offered. */
  readonly #retry = new Map<string, { at: number; failures: number }>();
  readonly #retryTimers = new Set<TimerHandle>();
  /** Offers without a usable update_id, logged once each; at most MAX_UNUSABLE kept. */
  readonly #unusable = new Set<string>();
  #intake: Promise<void> = Promise.resolve();
  #worker: Promise<void> | undefined;
  #again = false;
  #current: { readonly updateId: string; readonly cancel: AbortController } | undefined;

  constructor(deps: NodeUpdatesDeps) {
    this.#deps = deps;
  }

  #machine(record: NodeUpdateRecord): UpdateMachine {
    return new UpdateMachine(record, this.#deps.store, this.#deps.log, (changed) => this.#deps.reporter.report(changed));
  }

  /** At start: finish installs a crash interrupted, and send outcomes not yet acknowledged. */
  async recover(): Promise<void> {
    const { store, reporter, installer } = this.#deps;
    // Outcomes reached before the restart; those the recovery reaches report themselves.
    for (const record of store.updates()) {
      if (isTerminal(record.state) && store.reportedState(record.updateId) !== record.state) reporter.report(record);
    }
    for (const record of store.updates()) {
      if (record.state === 'installing') await installer.recover(this.#machine(record));
      // A crash between an outcome and its clean-up leaves the download behind.
      if (isTerminal(record.state) && record.download !== null) {
        await rm(record.download.path, { force: true });
        await store.saveUpdate({ ...record, download: null });
      }
    }
  }

  /** A representation of /updates: `{ "updates": [ manifest + rollout + image_ready ] }`. */
  handleUpdates(response: CoapResponse): void {
    let body: { updates?: unknown } | null;
    try {
      body = decodeBody(response.payload, response.contentFormat) as { updates?: unknown } | null;
    } catch (error) {
      this.#deps.log.warn({ err: (error as Error).message }, 'unusable /updates representation');
      return;
    }
    const entries = body?.updates;
    if (!Array.isArray(entries)) {
      this.#deps.log.warn({ err: 'no "updates" array' }, 'unusable /updates representation');
      return;
    }
    this.#intake = this.#intake.then(() => this.#takeOffers(entries)).catch((error: unknown) => {
      this.#deps.log.error({ err: error }, 'could not take the offered updates');
    });
  }

  /** Resolves once every representation received so far has been taken in. */
  async settled(): Promise<void> {
    await this.#intake;
  }

  async #takeOffers(entries: readonly unknown[]): Promise<void> {
    const { store, log } = this.#deps;
    for (const entry of entries) {
      const updateId = offerUpdateId(entry);
      if (updateId === undefined) {
        const text = JSON.stringify(entry).slice(0, 200);
        if (!this.#unusable.has(text)) log.warn({ offer: text }, 'offer without a usable update_id ignored');
        if (this.#unusable.size >= MAX_UNUSABLE) this.#unusable.clear();
        this.#unusable.add(text);
        continue;
      }
      const fields = entry as { rollout?: unknown; image_ready?: unknown };
      const offer = { rollout: typeof fields.rollout === 'string' ? fields.rollout : 'active', imageReady: fields.image_ready === true };
      const record = store.update(updateId);
      if (record !== undefined) {
        this.#offers.set(updateId, offer);
        // The worker ends it (it alone moves accepted updates); the job in hand at once.
        if (this.#current?.updateId === updateId && FINISHED_ROLLOUTS.has(offer.rollout)) this.#current.cancel.abort(new RolloutEndedError(offer.rollout));
        continue;
      }
      // Never started: a finished rollout has nothing for us, and nothing to report.
      if (FINISHED_ROLLOUTS.has(offer.rollout)) continue;
      const verdict = checkManifest(entry, this.#trust());
      const machine = await UpdateMachine.create(updateId, verdict.manifest, store, log, (changed) => this.#deps.reporter.report(changed));
      if (!verdict.ok) await machine.transition('failed', { error: `refused: ${verdict.reason}` });
      else machine.log.info({ version: verdict.manifest.version, size: verdict.manifest.size }, 'update accepted');
      // Offered only now: the worker never sees an update before its verdict is stored.
      this.#offers.set(updateId, offer);
    }
    const listed = new Set(entries.map(offerUpdateId));
    for (const [updateId, offer] of this.#offers) {
      if (listed.has(updateId)) continue;
      const record = store.update(updateId);
      if (record === undefined || isTerminal(record.state)) {
        this.#offers.delete(updateId);
        this.#retry.delete(updateId);
      } else if (record.state === 'pending' && offer.rollout !== 'withdrawn') {
        this.#offers.set(updateId, { ...offer, rollout: 'withdrawn' });
      }
    }
    this.kick();
  }

  #trust(): TrustContext {
    return { nodeId: this.#deps.nodeId, publisherKey: this.#deps.publisherKey, installedVersion: this.#deps.installedVersion() };
  }

  /** Works the accepted updates, one at a time, until none can move. */
  kick(): void {
    if (this.#deps.stop.requested) return;
    if (this.#worker !== undefined) {
      this.#again = true;
      return;
    }
    this.#worker = (async () => {
      do {
        this.#again = false;
        for (let next = this.#pickNext(); next !== undefined && !this.#deps.stop.requested; next = this.#pickNext()) {
          await this.#run(next);
        }
      } while (this.#again && !this.#deps.stop.requested);
    })().finally(() => { this.#worker = undefined; });
  }

  /** Waits for the job in hand to end (after its current block, or its install). */
  async stop(): Promise<void> {
    for (const timer of this.#retryTimers) this.#deps.clock.clearTimeout(timer);
    this.#retryTimers.clear();
    await this.#intake;
    await this.#worker;
  }

  #pickNext(): NodeUpdateRecord | undefined {
    const now = this.#deps.clock.now();
    for (const record of this.#deps.store.updates()) {
      if (isTerminal(record.state) || (this.#retry.get(record.updateId)?.at ?? 0) > now) continue;
      // Given a go, or interrupted before its switch: finish it whatever the offers say.
      if (record.state === 'installing') return record;
      const offer = this.#offers.get(record.updateId);
      if (offer === undefined) continue;
      if (FINISHED_ROLLOUTS.has(offer.rollout)) return record;
      if ((record.state === 'pending' || record.state === 'downloading') && !offer.imageReady) continue;
      return record;
    }
    return undefined;
  }

  async #run(record: NodeUpdateRecord): Promise<void> {
    const machine = this.#machine(record);
    const cancel = new AbortController();
    this.#current = { updateId: record.updateId, cancel };
    try {
      if ((await this.#advance(machine, cancel.signal)) === 'retry') this.#retryLater(record.updateId);
      else this.#retry.delete(record.updateId);
    } catch (error) {
      machine.log.error({ err: error }, 'update step failed; will try again');
      this.#retryLater(record.updateId);
    } finally {
      this.#current = undefined;
    }
  }

  /** Moves one update as far as it goes now; returns when it waits or is done, 'retry'
   * when it should be taken up again after a back-off. */
  async #advance(machine: UpdateMachine, cancel: AbortSignal): Promise<'retry' | void> {
    const cancelled = async (): Promise<boolean> => {
      if (!cancel.aborted) return false;
      await machine.transition('failed', { error: (cancel.reason as RolloutEndedError).message });
      return true;
    };
    const rollout = this.#offers.get(machine.updateId)?.rollout ?? 'active';
    if (machine.state !== 'installing' && FINISHED_ROLLOUTS.has(rollout)) return machine.transition('failed', { error: `rollout ${rollout}` });
    if (machine.state === 'pending') {
      // Checked again in full: the installed version may have moved since the offer, and
      // a crash may have come between the record and its refusal.
      const verdict = machine.record.manifest === null
        ? { ok: false as const, reason: 'malformed manifest' } : checkManifest(machine.record.manifest, this.#trust());
      if (!verdict.ok) return machine.transition('failed', { error: `refused: ${verdict.reason}` });
      await machine.transition('downloading', { progress: 0 });
    }
    const manifest = machine.record.manifest!;
    if (machine.state === 'downloading') {
      const outcome = await downloadImage({
        machine, manifest, gateway: this.#deps.gateway, downloadsDir: this.#deps.downloadsDir, stop: this.#deps.stop, cancel, clock: this.#deps.clock,
        tuning: this.#deps.tuning,
      });
      switch (outcome.kind) {
        case 'complete':
          await machine.transition('downloaded', { progress: 1, ...(outcome.transfer === undefined ? {} : { transfer: outcome.transfer }) });
          break;
        case 'mismatch':
          return machine.transition('failed', { progress: 1, error: outcome.reason });
        case 'not-ready':
          this.#offers.set(machine.updateId, { ...this.#offers.get(machine.updateId)!, imageReady: false });
          machine.log.info('image not on the gateway yet (4.04): waiting for image_ready');
          return;
        case 'stopped':
          await cancelled();
          return;
        case 'error':
          machine.log.warn({ err: outcome.error }, 'download interrupted; resumes later');
          return 'retry';
      }
    }
    if (machine.state === 'downloaded') {
      const permission = await this.#askUntilGo(machine, cancel);
      switch (permission.kind) {
        case 'go':
          await machine.transition('installing');
          break;
        case 'refused':
          return machine.transition('failed', { error: `install refused: ${permission.reason}` });
        case 'gave-up':
          return machine.transition('failed', { error: permission.reason });
        case 'interrupted':
          await cancelled();
          return;
      }
    }
    if (machine.state === 'installing') {
      await this.#deps.installer.run(machine);
      if (machine.record.state === 'installed') this.#deps.onInstalled();
    }
  }

  /** POST /install until 2.04: 5.03 waits Max-Age, errors back off; 4.xx (4.03: the
   * rollout was cancelled, aborted or completed) ends it. A 5.03 is the rollout pacing its
   * nodes (a maintenance window days away, a bake, a pause, the canaries) and is followed
   * however long it says; install_max_wait_s bounds only a run of failed requests (no
   * answer, 5.xx other than 5.03), counted from the first of them. */
  async #askUntilGo(machine: UpdateMachine, cancel: AbortSignal): Promise<InstallPermission> {
    const { clock } = this.#deps;
    const signal = AbortSignal.any([this.#deps.stop.soft, cancel]);
    /** When the current run of failed requests began; undefined while the gateway answers. */
    let failingSince: number | undefined;
    let failures = 0;
    for (;;) {
      if (signal.aborted) return { kind: 'interrupted' };
      let waitMs: number;
      let last: string;
      try {
        const answer = await this.#deps.gateway.askInstall(machine.updateId, signal);
        if (answer.kind === 'go' || answer.kind === 'refused') return answer;
        last = answer.reason;
        if (answer.kind === 'wait') {
          failingSince = undefined;
          failures = 0;
          waitMs = Math.max(1, answer.seconds) * 1000;
        } else {
          failingSince ??= clock.now();
          waitMs = RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]!;
        }
        machine.log.info({ answer: answer.kind, reason: answer.reason, retry_in_s: waitMs / 1000 }, 'install not permitted yet');
      } catch (error) {
        if (signal.aborted) return { kind: 'interrupted' };
        last = (error as Error).message;
        failingSince ??= clock.now();
        waitMs = RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]!;
        machine.log.warn({ err: error, retry_in_s: waitMs / 1000 }, 'install request failed');
      }
      if (failingSince !== undefined && clock.now() + waitMs > failingSince + this.#deps.installMaxWaitMs) {
        return { kind: 'gave-up', reason: `install requests failing for ${this.#deps.installMaxWaitMs / 1000} s (last: ${last})` };
      }
      try {
        await sleep(waitMs, signal, clock);
      } catch {
        return { kind: 'interrupted' };
      }
    }
  }

  #retryLater(updateId: string): void {
    const failures = (this.#retry.get(updateId)?.failures ?? 0) + 1;
    const delay = RETRY_MS[Math.min(failures - 1, RETRY_MS.length - 1)]!;
    const { clock } = this.#deps;
    this.#retry.set(updateId, { at: clock.now() + delay, failures });
    const timer = clock.setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.kick();
    }, delay);
    this.#retryTimers.add(timer);
  }
}
