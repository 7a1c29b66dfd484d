// The update manifest (DESIGN §5, §6): what the operator signs offline with Ed25519 and
// every agent verifies before it downloads a byte. The signature covers the canonical
// JSON of the fields that decide what gets installed where; the rollout policy is not
// signed, since operators change it mid-rollout (pause, resume).

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { isValidId } from './paths.js';
import { isValidVersion } from './version.js';

export interface UpdatePolicy {
  /** At most this many targets installing at once. */
  readonly max_parallel_installs: number;
  /** The first `canary` targets install first; the rest wait until those are installed. */
  readonly canary: number;
  /** This many failed or rolled-back targets abort the rollout. */
  readonly failure_threshold: number;
}

export interface Manifest {
  readonly update_id: string;
  readonly version: string;
  readonly size: number;
  /** "sha256:" and 64 lowercase hex digits. */
  readonly checksum: string;
  readonly target_nodes: readonly string[];
  /** Base64 Ed25519 signature over `signedBytes`. */
  readonly signature: string;
  readonly policy: UpdatePolicy;
}

export type UnsignedManifest = Omit<Manifest, 'signature'>;

export const MAX_IMAGE_SIZE = 1024 * 1024 * 1024;
export const MAX_TARGETS = 10_000;
/** The largest manifest body: 10,000 targets of the longest ids (64 characters) come to
 * about 680 KB of JSON, so a POST of one goes block-wise (RFC 7959 Block1). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

export const DEFAULT_POLICY: UpdatePolicy = { max_parallel_installs: 2, canary: 0, failure_threshold: 1 };

/** The bytes the signature covers: the signed fields in a fixed order, targets sorted. */
export function signedBytes(manifest: UnsignedManifest | Manifest): Buffer {
  return Buffer.from(JSON.stringify([
    'coap-fleet-manifest-v1', manifest.update_id, manifest.version, manifest.size, manifest.checksum,
    [...manifest.target_nodes].sort(),
  ]));
}

export const toPrivateKey = (pem: string | KeyObject): KeyObject => (typeof pem === 'string' ? createPrivateKey(pem) : pem);
export const toPublicKey = (pem: string | KeyObject): KeyObject => (typeof pem === 'string' ? createPublicKey(pem) : pem);

export function signManifest(manifest: UnsignedManifest, privateKey: string | KeyObject): Manifest {
  const signature = sign(null, signedBytes(manifest), toPrivateKey(privateKey)).toString('base64');
  return { ...manifest, signature };
}

/** Whether `publicKey` signed this manifest. Never throws on a malformed signature. */
export function verifyManifest(manifest: Manifest, publicKey: string | KeyObject): boolean {
  try {
    const signature = Buffer.from(manifest.signature, 'base64');
    return signature.length === 64 && verify(null, signedBytes(manifest), toPublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

/** A manifest from untrusted JSON, or the list of what is wrong with it. */
export function parseManifest(input: unknown): { manifest: Manifest } | { problems: string[] } {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { problems: ['manifest must be an object'] };
  const value = input as Record<string, unknown>;
  const { update_id, version, size, checksum, target_nodes, signature } = value;
  if (typeof update_id !== 'string' || !isValidId(update_id)) problems.push('update_id: 1-64 of [A-Za-z0-9._-]');
  if (typeof version !== 'string' || !isValidVersion(version)) problems.push('version: like 2.1.0');
  // An empty image has nothing to install, and an agent could only fail it.
  if (size === 0) problems.push('size: 0: the image is empty');
  else if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_IMAGE_SIZE) problems.push(`size: integer 1..${MAX_IMAGE_SIZE}`);
  if (typeof checksum !== 'string' || !CHECKSUM.test(checksum)) problems.push('checksum: "sha256:" + 64 lowercase hex');
  if (!Array.isArray(target_nodes) || target_nodes.length === 0 || target_nodes.length > MAX_TARGETS
    || !target_nodes.every((id) => typeof id === 'string' && isValidId(id)) || new Set(target_nodes).size !== target_nodes.length) {
    problems.push(`target_nodes: 1..${MAX_TARGETS} distinct node ids`);
  }
  if (typeof signature !== 'string' || Buffer.from(signature, 'base64').length !== 64) problems.push('signature: base64 Ed25519 signature');
  const policy = parsePolicy(value.policy ?? {}, problems);
  if (problems.length > 0) return { problems };
  return {
    manifest: {
      update_id: update_id as string, version: version as string, size: size as number, checksum: checksum as string,
      target_nodes: [...(target_nodes as string[])], signature: signature as string, policy,
    },
  };
}

/** A policy from untrusted JSON; missing fields take the defaults. */
export function parsePolicy(input: unknown, problems: string[]): UpdatePolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    problems.push('policy must be an object');
    return DEFAULT_POLICY;
  }
  const value = input as Record<string, unknown>;
  const integer = (name: keyof UpdatePolicy, min: number, max: number): number => {
    const field = value[name] ?? DEFAULT_POLICY[name];
    if (typeof field !== 'number' || !Number.isInteger(field) || field < min || field > max) {
      problems.push(`policy.${name}: integer ${min}..${max}`);
      return DEFAULT_POLICY[name];
    }
    return field;
  };
  return {
    max_parallel_installs: integer('max_parallel_installs', 1, MAX_TARGETS),
    canary: integer('canary', 0, MAX_TARGETS),
    failure_threshold: integer('failure_threshold', 1, MAX_TARGETS),
  };
}
