// The update manifest (DESIGN §5, §6): what the operator signs offline with Ed25519 and
// every agent verifies before it downloads a byte. The signature covers the canonical
// JSON of the fields that decide what gets installed where; the rollout policy is not
// signed, since operators change it mid-rollout (pause, resume). Format 2 adds the sha256
// of every chunk_size bytes of the image under the same signature, so an agent can verify
// (and keep, and fetch again) the image chunk by chunk; format 1 (no manifest_version)
// still verifies as it always did. Policy format 2 (policy_version 2) adds the rollout plan
// (waves, bake time, per-wave threshold, maintenance windows: rollout-plan.ts), and signs
// it: an operator may still pause, resume and change the unsigned fields, never the plan.
// A manifest without policy_version signs the same bytes as before.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { isValidId } from './paths.js';
import { planProblems, type RolloutPlan } from './rollout-plan.js';
import { isValidVersion } from './version.js';

export interface UpdatePolicy extends RolloutPlan {
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
  /** 2 with the chunk hashes below; absent in format 1, which has neither. */
  readonly manifest_version?: 2;
  /** Format 2: bytes per chunk, a power of two in MIN_CHUNK_SIZE..MAX_CHUNK_SIZE. */
  readonly chunk_size?: number;
  /** Format 2: lowercase hex sha256 of each chunk in order, the last one shorter. */
  readonly chunks?: readonly string[];
  /** 2 when the policy carries a rollout plan, which the signature then covers. */
  readonly policy_version?: 2;
}

export type UnsignedManifest = Omit<Manifest, 'signature'>;

export const MAX_IMAGE_SIZE = 1024 * 1024 * 1024;
export const MAX_TARGETS = 10_000;
/** Format 2's chunk sizes: powers of two from one CoAP block (RFC 7959 §2.2: at most
 * 1024 bytes, so no block ever straddles two chunks) to 1 MiB. */
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** At most this many chunks (a 1 GiB image at 64 KiB has 16,384); more is refused. */
export const MAX_CHUNKS = 1 << 16;
/** The largest manifest body: 10,000 targets of the longest ids (64 characters) come to
 * about 680 KB of JSON and 65,536 chunk hashes to 4.4 MB, so a POST of one goes
 * block-wise (RFC 7959 Block1). */
export const MAX_MANIFEST_BYTES = 6 * 1024 * 1024;
const CHECKSUM = /^sha256:[0-9a-f]{64}$/;
const DIGEST = /^[0-9a-f]{64}$/;

export const DEFAULT_POLICY: UpdatePolicy = { max_parallel_installs: 2, canary: 0, failure_threshold: 1 };

/** The bytes the signature covers: the signed fields in a fixed order, targets sorted;
 * format 2 appends chunk_size and the chunk hashes in image order. The leading tag differs
 * per format, so neither format's signature verifies the other's fields (a v2 manifest
 * stripped of its chunks does not pass as v1). */
export function signedBytes(manifest: UnsignedManifest | Manifest): Buffer {
  const fields: unknown[] = [manifest.update_id, manifest.version, manifest.size, manifest.checksum, [...manifest.target_nodes].sort()];
  const signed = manifest.manifest_version === 2
    ? ['coap-fleet-manifest-v2', ...fields, manifest.chunk_size, manifest.chunks]
    : ['coap-fleet-manifest-v1', ...fields];
  // Policy format 2 appends its own tagged element: without it the bytes are format 1's
  // or 2's exactly, and a plan stripped off (or added) no longer verifies.
  if (manifest.policy_version === 2) signed.push(['coap-fleet-policy-v2', signedPlan(manifest.policy)]);
  return Buffer.from(JSON.stringify(signed));
}

/** The plan as signed: every field in a fixed order, null when absent, group windows by tag. */
export function signedPlan(policy: UpdatePolicy): unknown[] {
  const groups = policy.group_windows === undefined ? null : Object.entries(policy.group_windows).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const gate = policy.health_gate;
  const gateFields = gate === undefined ? null
    : [gate.cpu_margin_percent ?? null, gate.memory_margin_percent ?? null, gate.max_restarts ?? null, gate.max_new_alerts ?? null,
      gate.on_breach ?? null, gate.baseline_s ?? null];
  return [policy.waves ?? null, policy.bake_s ?? null, policy.wave_failure_threshold ?? null, policy.window ?? null, groups, gateFields];
}

/** The plan's field names: what policy format 2 adds, and what only it may carry. */
export const PLAN_FIELDS = ['waves', 'bake_s', 'wave_failure_threshold', 'window', 'group_windows', 'health_gate'] as const;

/** Format 2's chunking of a manifest, or undefined for format 1. */
export function chunkingOf(manifest: Manifest): { readonly chunkSize: number; readonly chunks: readonly string[] } | undefined {
  return manifest.manifest_version === 2 ? { chunkSize: manifest.chunk_size!, chunks: manifest.chunks! } : undefined;
}

/** How many chunks of `chunkSize` an image of `size` bytes has (the last one shorter). */
export const chunkCount = (size: number, chunkSize: number): number => Math.ceil(size / chunkSize);

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
  const chunking = parseChunking(value, typeof size === 'number' ? size : 0, problems);
  const policyVersion = value.policy_version;
  if (policyVersion !== undefined && policyVersion !== 1 && policyVersion !== 2) problems.push('policy_version: 1 or 2');
  if (policyVersion !== 2 && PLAN_FIELDS.some((name) => policy[name] !== undefined)) problems.push(`policy.${PLAN_FIELDS.join(', ')}: only with policy_version 2`);
  if (problems.length > 0) return { problems };
  return {
    manifest: {
      update_id: update_id as string, version: version as string, size: size as number, checksum: checksum as string,
      target_nodes: [...(target_nodes as string[])], signature: signature as string, policy, ...chunking,
      ...(policyVersion === 2 ? { policy_version: 2 as const } : {}),
    },
  };
}

/** Format 2's fields from untrusted JSON: none in format 1, all of them in format 2. */
function parseChunking(value: Record<string, unknown>, size: number, problems: string[]): Pick<Manifest, 'manifest_version' | 'chunk_size' | 'chunks'> {
  const { manifest_version: format, chunk_size: chunkSize, chunks } = value;
  if (format === undefined || format === 1) {
    if (chunkSize !== undefined || chunks !== undefined) problems.push('chunk_size, chunks: only with manifest_version 2');
    return {};
  }
  if (format !== 2) {
    problems.push('manifest_version: 1 or 2');
    return {};
  }
  if (typeof chunkSize !== 'number' || !Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE
    || (chunkSize & (chunkSize - 1)) !== 0) {
    problems.push(`chunk_size: a power of two ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
    return {};
  }
  const expected = chunkCount(size, chunkSize);
  // The count first: the hashes are only looked at in a list of the right, bounded length.
  if (expected > MAX_CHUNKS) problems.push(`chunks: ${expected} chunks of ${chunkSize} bytes, over the ${MAX_CHUNKS} limit`);
  else if (!Array.isArray(chunks) || chunks.length !== expected) problems.push(`chunks: ${expected} sha256 hex digests (size / chunk_size, rounded up)`);
  else if (!chunks.every((digest) => typeof digest === 'string' && DIGEST.test(digest))) problems.push('chunks: 64 lowercase hex digits each');
  else return { manifest_version: 2, chunk_size: chunkSize, chunks: [...(chunks as string[])] };
  return {};
}

/** A policy from untrusted JSON; missing fields take the defaults, missing plan fields stay absent. */
export function parsePolicy(input: unknown, problems: string[]): UpdatePolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    problems.push('policy must be an object');
    return DEFAULT_POLICY;
  }
  const value = input as Record<string, unknown>;
  const integer = (name: 'max_parallel_installs' | 'canary' | 'failure_threshold', min: number, max: number): number => {
    const field = value[name] ?? DEFAULT_POLICY[name];
    if (typeof field !== 'number' || !Number.isInteger(field) || field < min || field > max) {
      problems.push(`policy.${name}: integer ${min}..${max}`);
      return DEFAULT_POLICY[name];
    }
    return field;
  };
  const plan = planProblems(value);
  problems.push(...plan);
  // Copies, so the policy shares nothing with the input.
  const copy = (field: unknown): unknown => (Array.isArray(field) ? [...field] : typeof field === 'object' && field !== null ? { ...field } : field);
  const present = plan.length > 0 ? {} : Object.fromEntries(PLAN_FIELDS.filter((name) => value[name] !== undefined).map((name) => [name, copy(value[name])]));
  return {
    max_parallel_installs: integer('max_parallel_installs', 1, MAX_TARGETS),
    canary: integer('canary', 0, MAX_TARGETS),
    failure_threshold: integer('failure_threshold', 1, MAX_TARGETS),
    ...(present as RolloutPlan),
  };
}
