// The certificate revocation list (DESIGN §6): GET /certificates/revocations lists it, POST
// adds an entry (a serial, or a subject: every certificate of that principal). The gateway
// checks the list at every certificate handshake (endpoints.ts) and, when an entry is
// added, ends the live sessions it matches at once, so a revoked node is out now, not when
// its session would have idled away.

import { CertificateError } from '../fleet/errors.js';
import { GatewayRoute } from '../fleet/paths.js';
import { parseRevocationRequest, revocationKeysOf, type RevocationRecord, type RevocationRequest } from '../fleet/revocation.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import type { Logger } from '../protocol/interfaces.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { objectBody, readBody, reply } from './replies.js';
import { whoOf, type GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';

/** Entries the list holds at most: a fleet of 10,000 nodes re-keyed many times over. Past
 * it a revocation is refused (5.03) rather than an older one forgotten. */
export const MAX_REVOCATIONS = 100_000;

/** Ends the live sessions whose certificate an entry matches; how many it ended. */
export type SessionEnder = (matches: (certificate: { serial: string; subject: string }) => boolean) => number;

export interface RevocationResourcesContext {
  readonly router: GatewayRouter;
  readonly store: GatewayStore;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly endSessions: SessionEnder;
}

export function addRevocationResources(context: RevocationResourcesContext): void {
  const { router, store, now, logger, endSessions } = context;
  router.add(GatewayRoute.revocations, {
    attributes: linkAttributes('revocations', { if: 'collection', ct: 'app' }),
    handlers: {
      GET: (request) => reply(request, { revocations: store.listRevocations() }),
      POST: async (request, caller) => {
        const body = objectBody(readBody(request), ['serial', 'subject', 'reason']) as RevocationRequest;
        let entry: ReturnType<typeof parseRevocationRequest>;
        try {
          entry = parseRevocationRequest(body);
        } catch (error) {
          if (!(error instanceof CertificateError)) throw error;
          throw new ResponseError(ResponseCode.BadRequest, error.message, { diagnostic: error.message });
        }
        const existing = store.getRevocation(entry.kind, entry.value);
        const who = whoOf(caller.principal, request.peer);
        const record: RevocationRecord = existing ?? { ...entry, revoked_at: now().toISOString(), by: who };
        if (existing === undefined) {
          if (store.revocationCount() >= MAX_REVOCATIONS) {
            throw new ResponseError(ResponseCode.ServiceUnavailable, 'revocation list full', { diagnostic: `the revocation list holds ${MAX_REVOCATIONS} entries, its bound` });
          }
          await store.atomically((writer) => {
            writer.putRevocation(record);
            writer.audit({ at: record.revoked_at, who, action: 'certificate.revoke', target: GatewayRoute.revocations, detail: `${record.kind} ${record.value}${record.reason === null ? '' : `: ${record.reason}`}` });
          });
        }
        // Again for an entry that exists: a session that slipped in before it was written
        // (a handshake checked the list just before) ends all the same.
        const key = `${record.kind}:${record.value}`;
        const ended = endSessions((certificate) => revocationKeysOf(certificate).includes(key));
        logger.info({ kind: record.kind, value: record.value, by: who, sessions_ended: ended }, 'certificate revoked');
        return reply(request, { revocation: record, sessions_ended: ended }, existing === undefined ? ResponseCode.Created : ResponseCode.Changed);
      },
    },
  });
}
