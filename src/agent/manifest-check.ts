// What the agent trusts before it downloads a byte (DESIGN §6): the manifest parses, its
// Ed25519 signature is the pinned publisher's, this node is among its signed targets, and
// its version is strictly newer than the installed one (anti-rollback). The gateway is
// not trusted: a compromised one can list anything, but cannot sign.

import type { KeyObject } from 'node:crypto';
import { parseManifest, verifyManifest, type Manifest } from '../fleet/manifest.js';
import { isValidId } from '../fleet/paths.js';
import { compareVersions } from '../fleet/version.js';

export type ManifestVerdict =
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly manifest: Manifest | null; readonly reason: string };

export interface TrustContext {
  readonly nodeId: string;
  readonly publisherKey: KeyObject;
  readonly installedVersion: string;
}

/** The update id of an offer, if it has a usable one (else nothing can be reported). */
export function offerUpdateId(entry: unknown): string | undefined {
  const id = (entry as { update_id?: unknown } | null)?.update_id;
  return typeof id === 'string' && isValidId(id) ? id : undefined;
}

export function checkManifest(entry: unknown, trust: TrustContext): ManifestVerdict {
  const parsed = parseManifest(entry);
  if ('problems' in parsed) return { ok: false, manifest: null, reason: `malformed manifest: ${parsed.problems.join('; ')}` };
  const { manifest } = parsed;
  if (!verifyManifest(manifest, trust.publisherKey)) return { ok: false, manifest, reason: 'bad signature' };
  if (!manifest.target_nodes.includes(trust.nodeId)) {
    return { ok: false, manifest, reason: `node ${trust.nodeId} is not among the signed targets` };
  }
  const newer = checkNewer(manifest, trust.installedVersion);
  return newer === undefined ? { ok: true, manifest } : { ok: false, manifest, reason: newer };
}

/** Anti-rollback alone, checked again right before a download starts and before the
 * switch: another update may have been installed since the offer was checked. */
export function checkNewer(manifest: Manifest, installedVersion: string): string | undefined {
  return compareVersions(manifest.version, installedVersion) > 0
    ? undefined
    : `version ${manifest.version} is not newer than the installed ${installedVersion}`;
}
