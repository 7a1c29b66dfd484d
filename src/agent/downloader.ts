// The image download (DESIGN §7): block-wise (RFC 7959) into <data>/downloads/<id>.part,
// each block written at its offset, the file fsynced before the offset is persisted, so a
// kill -9 or a reboot resumes from the last persisted block; then the sha256 of the whole
// file against the signed manifest. A format 1 manifest resumes under the ETag the bytes
// belong to. A format 2 one (chunk hashes) has each chunk verified as it completes
// (chunk-verifier.ts): only verified chunks count as persisted (the store's `verified`, a
// whole number of chunks, kept in the same LMDB record as before rather than a sidecar
// file, so it commits atomically with the rest of the update's state); a bad chunk is
// fetched again from its offset (Block2 random access, RFC 7959 §2.4), a few times at
// most; a restart hashes the chunks on disk again and trusts no ETag. The image is never
// held in memory: one block (or one chunk to hash) at a time.

import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockTransferError } from '../protocol/errors.js';
import { ResponseCode } from '../protocol/codes.js';
import { chunkingOf, type Manifest } from '../fleet/manifest.js';
import { digestOf, imageEtag } from '../fleet/image-checksum.js';
import { sha256File } from '../fleet/sha256-file.js';
import { ChunkVerifier, type Chunking } from './chunk-verifier.js';
import { ChunkMismatchError, ImageChangedError, StoppedError } from './errors.js';
import type { Clock } from '../protocol/interfaces.js';
import type { QBlockDownload, TransferTuner } from '../protocol/transfer-tuner.js';
import type { TransferReport } from '../fleet/link-quality.js';
import { transferReportOf, type DownloadTuning } from './download-tuning.js';
import type { GatewayLink } from './gateway-link.js';
import type { StopToken } from './interfaces.js';
import type { DownloadProgress } from './store.js';
import type { UpdateMachine } from './update-machine.js';

export type DownloadOutcome =
  /** `transfer`: the tuner's figures at the end, for the `downloaded` report. */
  | { readonly kind: 'complete'; readonly transfer?: TransferReport }
  /** The bytes are not the signed image: the partial file is gone, nothing installed. */
  | { readonly kind: 'mismatch'; readonly reason: string }
  /** 4.04: the gateway has no image yet (image_ready false); wait for a notification. */
  | { readonly kind: 'not-ready' }
  | { readonly kind: 'stopped' }
  /** Anything else (gateway unreachable, 5.xx): the progress is kept, try again later. */
  | { readonly kind: 'error'; readonly error: unknown };

/** Bytes between fsync + persist: a crash loses at most this much of the download, and
 * the disk sees one fsync per this many bytes rather than one per block. */
export const PERSIST_EVERY_BYTES = 64 * 1024;
/** Progress reports at most every 10 % or every 2 s (the contract). */
const REPORT_STEP = 0.1;
const REPORT_EVERY_MS = 2000;
/** Times one chunk of a format 2 image is fetched again after its sha256 failed; one more
 * failure fails the update. */
export const MAX_CHUNK_REFETCHES = 3;
/** Times a format 2 download goes on from its verified chunks after the ETag changed. */
const MAX_IMAGE_CHANGES = 3;

export interface DownloadJob {
  readonly machine: UpdateMachine;
  readonly manifest: Manifest;
  readonly gateway: GatewayLink;
  readonly downloadsDir: string;
  readonly stop: StopToken;
  /** Aborted when the rollout is cancelled under us: end at once. */
  readonly cancel: AbortSignal;
  /** Paces the progress reports. */
  readonly clock: Clock;
  /** Sizes the block requests (block_transfer); its figures go with the progress reports. */
  readonly tuning: DownloadTuning;
}


export const sha256Of = (manifest: Manifest): string => digestOf(manifest.checksum);

/** Runs or resumes the download of the machine's update; the machine is in 'downloading'. */
export async function downloadImage(job: DownloadJob): Promise<DownloadOutcome> {
  const { machine, manifest } = job;
  const sha256 = sha256Of(manifest);
  await mkdir(job.downloadsDir, { recursive: true });
  let progress: DownloadProgress = machine.record.download
    ?? { path: join(job.downloadsDir, `${machine.updateId}.part`), etag: imageEtag(sha256).toString('hex'), sha256, verified: 0 };
  // A partial file shorter than the persisted offset (lost with its directory, or never
  // flushed by the filesystem) cannot be resumed.
  const onDisk = await stat(progress.path).then((info) => info.size, () => -1);
  if (onDisk < progress.verified) progress = { ...progress, verified: 0 };
  await machine.save({ download: progress });

  const chunking = chunkingOf(manifest);
  const discard = async (reason: string): Promise<DownloadOutcome> => {
    await rm(progress.path, { force: true });
    await machine.save({ download: null });
    return { kind: 'mismatch', reason };
  };
  // One tuner for the whole download, across the chunks fetched again.
  const tuner = job.tuning.tuner();
  try {
    if (chunking !== undefined) {
      const fetched = await fetchChunks(job, progress, { ...chunking, size: manifest.size }, tuner);
      if (fetched.kind === 'mismatch') return await discard(fetched.reason);
      if (fetched.kind !== 'complete') return fetched;
    } else if (progress.verified < manifest.size) {
      const fetched = await fetchBlocks(job, progress, tuner);
      if (fetched.kind !== 'complete') return fetched;
    }
  } finally {
    job.tuning.remember(tuner);
  }
  const reason = await verifyFile(progress.path, manifest.size, sha256);
  if (reason !== undefined) return discard(reason);
  return tuner === undefined ? { kind: 'complete' } : { kind: 'complete', transfer: transferReportOf(tuner.stats) };
}

/** Reports the download's progress, with the tuner's figures, at most every REPORT_STEP
 * or REPORT_EVERY_MS. */
function progressPacer(job: DownloadJob, start: number, tuner: TransferTuner | undefined): (received: number) => void {
  const size = Math.max(1, job.manifest.size);
  let last = { progress: start / size, at: job.clock.now() };
  return (received) => {
    const progress = received / size;
    const now = job.clock.now();
    if (progress - last.progress >= REPORT_STEP || now - last.at >= REPORT_EVERY_MS) {
      last = { progress, at: now };
      job.machine.reportProgress(Math.min(progress, 1), tuner === undefined ? undefined : transferReportOf(tuner.stats));
    }
  };
}

async function fetchBlocks(job: DownloadJob, initial: DownloadProgress, tuner: TransferTuner | undefined): Promise<DownloadOutcome> {
  const { machine, manifest } = job;
  const file = await open(initial.path, initial.verified > 0 ? 'r+' : 'w+');
  let written = initial.verified;
  let persisted = initial.verified;
  /** fsync, then the offset: the persisted offset never runs ahead of the disk. */
  const persist = async (): Promise<void> => {
    if (written === persisted) return;
    await file.sync();
    await machine.save({ download: { ...initial, verified: written } });
    persisted = written;
  };
  const stopping = (): boolean => job.stop.requested || job.cancel.aborted;
  const sink = {
    write: async (chunk: Buffer, offset: number): Promise<void> => {
      await writeAt(file, chunk, offset);
      written = offset + chunk.length;
      if (written - persisted >= PERSIST_EVERY_BYTES) await persist();
      // SIGTERM: the block in hand is written; persist it and end the transfer here.
      if (stopping()) {
        await persist();
        throw new StoppedError();
      }
    },
    reset: async (): Promise<void> => {
      // The ETag changed: the bytes so far belong to another image.
      machine.log.warn({ offset: written }, 'image changed on the gateway (ETag): download starts over');
      await file.truncate(0);
      written = 0;
      persisted = -1;
      await persist();
    },
  };
  try {
    const result = await job.gateway.download(machine.updateId, {
      sink, startOffset: initial.verified, etag: Buffer.from(initial.etag, 'hex'), maxSize: Math.max(1, manifest.size),
      signal: AbortSignal.any([job.stop.hard, job.cancel]),
      onProgress: progressPacer(job, initial.verified, tuner), ...qblockOf(tuner),
    });
    await file.truncate(result.size);
    written = result.size;
    await persist();
    return { kind: 'complete' };
  } catch (error) {
    return endedBy(error, stopping());
  } finally {
    // Whatever ended the transfer, what is on disk in one piece is kept.
    await persist().catch(() => {});
    await file.close();
  }
}

/** A format 2 download: the chunks on disk hashed again, then fetched from the first one
 * that is not verified, each verified as its last byte is written. */
async function fetchChunks(job: DownloadJob, initial: DownloadProgress, chunking: Chunking, tuner: TransferTuner | undefined): Promise<DownloadOutcome> {
  const { machine } = job;
  const { size } = chunking;
  const file = await open(initial.path, 'r+').catch(() => open(initial.path, 'w+'));
  const verifier = new ChunkVerifier(file, chunking, 0);
  let persisted = initial.verified;
  /** fsync, then the verified length: the persisted length never runs ahead of the disk. */
  const persist = async (): Promise<void> => {
    if (verifier.verified === persisted) return;
    await file.sync();
    await machine.save({ download: { ...initial, verified: verifier.verified } });
    persisted = verifier.verified;
  };
  const stopping = (): boolean => job.stop.requested || job.cancel.aborted;
  const sink = {
    write: async (bytes: Buffer, offset: number): Promise<void> => {
      await writeAt(file, bytes, offset);
      await verifier.written(offset, bytes.length);
      if (verifier.verified - persisted >= PERSIST_EVERY_BYTES || verifier.verified === size) await persist();
      if (stopping()) {
        await persist();
        throw new StoppedError();
      }
    },
    // The ETag changed mid-transfer: go on from the verified chunks, not from zero.
    reset: (): never => { throw new ImageChangedError(); },
  };
  /** Failures per chunk index, only of chunks that failed (bounded by the chunk count). */
  const failures = new Map<number, number>();
  let imageChanges = 0;
  try {
    const onDisk = (await file.stat()).size;
    await verifier.verifyPrefix(onDisk);
    if (verifier.verified !== initial.verified) {
      machine.log.info({ persisted: initial.verified, verified: verifier.verified }, 'partial image verified again chunk by chunk');
    }
    await persist();
    const onProgress = progressPacer(job, verifier.verified, tuner);
    while (verifier.verified < size) {
      verifier.rewind();
      try {
        const result = await job.gateway.download(machine.updateId, {
          sink, startOffset: verifier.verified, etag: undefined, maxSize: size, signal: AbortSignal.any([job.stop.hard, job.cancel]), onProgress,
          ...qblockOf(tuner),
        });
        if (verifier.verified < size) return { kind: 'mismatch', reason: `size mismatch: ${result.size} bytes, the manifest says ${size}` };
      } catch (error) {
        if (error instanceof ChunkMismatchError) {
          const failed = (failures.get(error.chunk) ?? 0) + 1;
          if (failed > MAX_CHUNK_REFETCHES) return { kind: 'mismatch', reason: error.message };
          failures.set(error.chunk, failed);
          machine.log.warn({ chunk: error.chunk, offset: verifier.verified, failures: failed }, 'chunk failed its sha256: fetching it again');
        } else if (error instanceof ImageChangedError && ++imageChanges <= MAX_IMAGE_CHANGES) {
          machine.log.warn({ offset: verifier.verified }, 'image changed on the gateway (ETag): going on from the verified chunks');
        } else {
          throw error;
        }
      }
    }
    await file.truncate(size);
    return { kind: 'complete' };
  } catch (error) {
    return endedBy(error, stopping());
  } finally {
    await persist().catch(() => {});
    await file.close();
  }
}

/** The download option that asks for Q-Block2 bursts sized by `tuner`; none for lock-step Block2. */
const qblockOf = (tuner: TransferTuner | undefined): { qblock?: QBlockDownload } => (tuner === undefined ? {} : { qblock: { tuner } });

/** How a transfer that threw ends: stopped on request, the image not on the gateway yet
 * (4.04), or an error to try again after. */
function endedBy(error: unknown, stopped: boolean): DownloadOutcome {
  if (stopped) return { kind: 'stopped' };
  if (error instanceof BlockTransferError && error.responseCode === ResponseCode.NotFound) return { kind: 'not-ready' };
  return { kind: 'error', error };
}

async function writeAt(file: FileHandle, chunk: Buffer, offset: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await file.write(chunk, done, chunk.length - done, offset + done);
    done += bytesWritten;
  }
}

/** Size and sha256 of the whole file, streamed; undefined when both match. */
export async function verifyFile(path: string, size: number, sha256: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return 'downloaded image missing';
  if (info.size !== size) return `size mismatch: ${info.size} bytes, the manifest says ${size}`;
  return (await sha256File(path)) === sha256 ? undefined : 'sha256 mismatch';
}
