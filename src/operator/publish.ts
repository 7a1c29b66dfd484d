// Publishing an update: the manifest of an image (size, sha256, targets, policy) signed
// with the publisher's Ed25519 key (DESIGN §6), created on the gateway (POST /updates),
// and the image uploaded block-wise (PUT /updates/{id}/download, RFC 7959 Block1). The
// same publish again after an interrupted upload resumes it: the gateway answers 2.04.
// The manifest is format 2 (chunk hashes, manifest.ts) unless format 1 is asked for, which
// agents from before format 2 need (they cannot verify format 2's signature). A policy
// with a rollout plan (waves, bake time, windows) makes it policy format 2: the plan is
// signed, which agents from before it cannot verify either.

import { readFile, stat } from 'node:fs/promises';
import { imageDigests } from '../fleet/image-digests.js';
import {
  chunkCount, DEFAULT_CHUNK_SIZE, MAX_CHUNKS, PLAN_FIELDS, signManifest, type Manifest, type UnsignedManifest, type UpdatePolicy,
} from '../fleet/manifest.js';
import { gatewayPath, GatewayRoute } from '../fleet/paths.js';
import { sha256File } from '../fleet/sha256-file.js';
import { fileBody } from '../protocol/body.js';
import { codeClass, Method, ResponseCode } from '../protocol/codes.js';
import { GatewayError, ImageError, SigningKeyError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';

const UPLOAD_TIMEOUT_MS = 30_000;

export interface ManifestRequest {
  /** The image file. */
  readonly image: string;
  readonly version: string;
  readonly updateId: string;
  readonly targets: readonly string[];
  readonly policy: UpdatePolicy;
  /** The publisher's Ed25519 private key, PEM (publisher.key from keys generate). */
  readonly privateKey: string;
  /** 2 (the default): with chunk hashes; 1: for agents that know only format 1. */
  readonly manifestVersion?: 1 | 2;
}

/** What a publish reports as it goes; every callback optional. */
export interface PublishProgress {
  /** The gateway already holds this very manifest without its image (an earlier publish
   * was cut off mid-upload): the image is uploaded again from its first block. */
  readonly onResume?: (updateId: string) => void;
  /** Bytes of the image the gateway has acknowledged so far, of `total`. */
  readonly onUpload?: (sent: number, total: number) => void;
}

export interface PublishRequest extends ManifestRequest {
  readonly progress?: PublishProgress;
}

/** The publisher's private key from its PEM file. */
export async function readSigningKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new SigningKeyError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

/** The image's size in bytes; ImageError when it cannot be read or is empty. */
export async function imageSize(image: string): Promise<number> {
  const { size } = await stat(image).catch((error: NodeJS.ErrnoException) => {
    throw new ImageError(`cannot read ${image}: ${error.code ?? error.message}`, { cause: error });
  });
  if (size === 0) throw new ImageError(`${image} is empty (0 bytes): there is nothing to install`);
  return size;
}

/** The image's signed manifest; an unreadable or empty image throws ImageError, a key that
 * cannot sign SigningKeyError. Nothing is sent. */
export async function buildManifest(request: ManifestRequest): Promise<Manifest> {
  const { image, version, updateId, targets, policy } = request;
  const size = await imageSize(image);
  const planned = PLAN_FIELDS.some((name) => policy[name] !== undefined);
  const common = { update_id: updateId, version, size, target_nodes: targets, policy, ...(planned ? { policy_version: 2 as const } : {}) };
  let unsigned: UnsignedManifest;
  if (request.manifestVersion === 1) {
    unsigned = { ...common, checksum: `sha256:${await sha256File(image)}` };
  } else {
    const chunkSize = chunkSizeFor(size);
    const digests = await imageDigests(image, chunkSize);
    if (digests.size !== size) throw new ImageError(`${image} changed while it was read (${size} bytes, then ${digests.size})`);
    unsigned = { ...common, checksum: `sha256:${digests.sha256}`, manifest_version: 2, chunk_size: chunkSize, chunks: digests.chunks };
  }
  try {
    return signManifest(unsigned, request.privateKey);
  } catch (error) {
    throw new SigningKeyError(`not an Ed25519 private key: ${(error as Error).message}`, { cause: error });
  }
}

/** Creates the update from its manifest and uploads its image. */
export async function publishManifest(gateway: GatewayClient, manifest: Manifest, image: string, progress: PublishProgress = {}): Promise<void> {
  const created = await gateway.send(Method.POST, GatewayRoute.updates, manifest);
  if (created.code === ResponseCode.Changed) progress.onResume?.(manifest.update_id);
  const uploaded = await gateway.endpoint.upload({
    uri: `${gateway.base}${gatewayPath.download(manifest.update_id)}`, method: Method.PUT, source: fileBody(image, manifest.size),
    timeoutMs: UPLOAD_TIMEOUT_MS,
    ...(progress.onUpload === undefined ? {} : { onProgress: progress.onUpload }),
  });
  if (codeClass(uploaded.code) !== 2) throw new GatewayError(uploaded, 'image upload');
}

/** Signs the image's manifest, creates the update and uploads the image. */
export async function publishImage(gateway: GatewayClient, request: PublishRequest): Promise<Manifest> {
  const manifest = await buildManifest(request);
  await publishManifest(gateway, manifest, request.image, request.progress);
  return manifest;
}

/** DEFAULT_CHUNK_SIZE, doubled until the image has at most MAX_CHUNKS chunks (an image
 * over 4 GiB would need it; MAX_IMAGE_SIZE keeps them smaller today). */
function chunkSizeFor(size: number): number {
  let chunkSize = DEFAULT_CHUNK_SIZE;
  while (chunkCount(size, chunkSize) > MAX_CHUNKS) chunkSize *= 2;
  return chunkSize;
}
