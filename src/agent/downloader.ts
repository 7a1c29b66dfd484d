// The image download (DESIGN §7): block-wise (RFC 7959) into <data>/downloads/<id>.part,
// each block written at its offset, the file fsynced before the offset is persisted, so a
// kill -9 or a reboot resumes from the last persisted block with the ETag it belongs to;
// then the sha256 of the whole file against the signed manifest. The image is never held
// in memory: one block at a time on the way in, a stream on the way to the hash.

import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockTransferError } from '../protocol/errors.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Manifest } from '../fleet/manifest.js';
import { digestOf, imageEtag } from '../fleet/image-checksum.js';
import { sha256File } from '../fleet/sha256-file.js';
import { StoppedError } from './errors.js';
import type { Clock } from '../protocol/interfaces.js';
import type { GatewayLink } from './gateway-link.js';
import type { StopToken } from './interfaces.js';
import type { DownloadProgress } from './store.js';
import type { UpdateMachine } from './update-machine.js';

export type DownloadOutcome =
  | { readonly kind: 'complete' }
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

  if (progress.verified < manifest.size) {
    const fetched = await fetchBlocks(job, progress);
    if (fetched.kind !== 'complete') return fetched;
  }
  const reason = await verifyFile(progress.path, manifest.size, sha256);
  if (reason !== undefined) {
    await rm(progress.path, { force: true });
    await machine.save({ download: null });
    return { kind: 'mismatch', reason };
  }
  return { kind: 'complete' };
}

async function fetchBlocks(job: DownloadJob, initial: DownloadProgress): Promise<DownloadOutcome> {
  const { machine, manifest } = job;
  const file = await open(initial.path, initial.verified > 0 ? 'r+' : 'w+');
  let written = initial.verified;
  let persisted = initial.verified;
  let lastReport = { progress: initial.verified / Math.max(1, manifest.size), at: job.clock.now() };
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
      onProgress: (received) => {
        const progress = received / Math.max(1, manifest.size);
        const now = job.clock.now();
        if (progress - lastReport.progress >= REPORT_STEP || now - lastReport.at >= REPORT_EVERY_MS) {
          lastReport = { progress, at: now };
          machine.reportProgress(Math.min(progress, 1));
        }
      },
    });
    await file.truncate(result.size);
    written = result.size;
    await persist();
    return { kind: 'complete' };
  } catch (error) {
    if (stopping()) return { kind: 'stopped' };
    if (error instanceof BlockTransferError && error.responseCode === ResponseCode.NotFound) return { kind: 'not-ready' };
    return { kind: 'error', error };
  } finally {
    // Whatever ended the transfer, what is on disk in one piece is kept.
    await persist().catch(() => {});
    await file.close();
  }
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
