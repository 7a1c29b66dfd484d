// The fleet's certificate revocation list (DESIGN §6): what the gateway keeps in LMDB and
// checks at every certificate handshake, and what `keys revoke` sends. An entry names one
// certificate by its serial number, or every certificate of a principal by its subject
// ("node:n1": the node is out of the fleet, whatever it was issued). The shape and the
// pure checks, shared by the gateway and the operator's side.

import { normalizeSerial } from './certificate-serial.js';
import { CertificateError } from './errors.js';
import { principalFromIdentity } from './identity.js';

export type RevocationKind = 'serial' | 'subject';

export interface RevocationRecord {
  readonly kind: RevocationKind;
  /** serial: lowercase hex without leading zeros; subject: the principal, "node:n1". */
  readonly value: string;
  readonly revoked_at: string;
  /** Who revoked it (the principal). */
  readonly by: string;
  readonly reason: string | null;
}

/** What a request to revoke names. */
export interface RevocationRequest {
  readonly serial?: string;
  readonly subject?: string;
  readonly reason?: string;
}

export const MAX_REVOCATION_REASON_CHARS = 200;

/** The one key an entry is stored and looked up under. */
export const revocationKey = (kind: RevocationKind, value: string): string => `${kind}:${value}`;

/** The entry a request asks for, checked (a serial in hex, a subject that is a principal),
 * or a CertificateError saying what is wrong. */
export function parseRevocationRequest(request: RevocationRequest): { kind: RevocationKind; value: string; reason: string | null } {
  const reason = request.reason ?? null;
  if (reason !== null && (typeof reason !== 'string' || reason.length > MAX_REVOCATION_REASON_CHARS)) {
    throw new CertificateError(`reason: text of at most ${MAX_REVOCATION_REASON_CHARS} characters`);
  }
  if ((request.serial === undefined) === (request.subject === undefined)) throw new CertificateError('give a serial or a subject, one of them');
  if (request.serial !== undefined) {
    if (typeof request.serial !== 'string' || request.serial.length > 64) throw new CertificateError('serial: a serial number in hex');
    return { kind: 'serial', value: normalizeSerial(request.serial), reason };
  }
  const principal = typeof request.subject === 'string' ? principalFromIdentity(request.subject) : undefined;
  if (principal === undefined || principal.role === 'local') throw new CertificateError('subject: a principal, node:ID or operator:NAME (or a subject whose CN is one)');
  return { kind: 'subject', value: `${principal.role}:${principal.name}`, reason };
}

/** The keys under which a presented certificate may be revoked: its serial, its principal. */
export function revocationKeysOf(certificate: { readonly serial: string; readonly subject: string }): string[] {
  const keys = [revocationKey('serial', normalizeSerial(certificate.serial))];
  const principal = principalFromIdentity(certificate.subject);
  if (principal !== undefined) keys.push(revocationKey('subject', `${principal.role}:${principal.name}`));
  return keys;
}
