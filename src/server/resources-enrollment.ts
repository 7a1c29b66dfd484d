// The enrollment resources (RFC 9148; DESIGN §6): on the main router, an operator's POST
// /certificates/bootstrap (a bootstrap credential for one node) and a node's POST
// /.well-known/est/sren (re-enrollment with its current certificate); on the enrollment
// endpoint, which only bootstrap PSKs reach, POST /.well-known/est/sen and nothing else.

import { GatewayRoute } from '../fleet/paths.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import type { Endpoint } from '../protocol/endpoint.js';
import { ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { ResponseError } from '../protocol/errors.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import type { Enrollment } from './enrollment.js';
import { objectBody, readBody, reply } from './replies.js';
import { whoOf, type GatewayRouter } from './routing.js';

/** Largest PKCS#10 request taken: a P-256 one is about 250 bytes (RFC 9148 §5 carries DER). */
const MAX_CSR_BYTES = 2048;

/** The DER request of an EST POST, or 4.15 / 4.13 (RFC 9148 §5: application/pkcs10). */
function csrOf(request: CoapRequest): Buffer {
  if (request.contentFormat !== ContentFormat.Pkcs10) {
    throw new ResponseError(ResponseCode.UnsupportedContentFormat, 'not application/pkcs10', { diagnostic: 'send the CSR as application/pkcs10 (286)' });
  }
  if (request.payload.length > MAX_CSR_BYTES) throw new ResponseError(ResponseCode.RequestEntityTooLarge, 'CSR too large', { diagnostic: `at most ${MAX_CSR_BYTES} bytes` });
  return request.payload;
}

/** A certificate as application/pkix-cert, 2.04 (RFC 9148 §4.1). */
const certificateResponse = (der: Buffer): ResponseInit => ({ code: ResponseCode.Changed, payload: der, contentFormat: ContentFormat.PkixCert });

export function addEnrollmentResources(context: { readonly router: GatewayRouter; readonly enrollment: Enrollment }): void {
  const { router, enrollment } = context;
  router.add(GatewayRoute.bootstraps, {
    attributes: linkAttributes('bootstrap', { if: 'collection', ct: 'app' }),
    handlers: {
      POST: async (request, caller) => {
        const body = objectBody(readBody(request), ['node_id', 'expires_s']);
        if (typeof body.node_id !== 'string' || typeof body.expires_s !== 'number') {
          throw new ResponseError(ResponseCode.BadRequest, 'node_id and expires_s required', { diagnostic: 'body: {"node_id": "n1", "expires_s": 3600}' });
        }
        const credential = await enrollment.createBootstrap(body.node_id, body.expires_s, whoOf(caller.principal, request.peer));
        return reply(request, credential, ResponseCode.Created);
      },
    },
  });
  router.add(GatewayRoute.estReenroll, {
    // RFC 9148 §5's resource type; the response's one format.
    attributes: [{ name: 'rt', value: 'ace.est.sren' }, { name: 'ct', value: String(ContentFormat.PkixCert) }],
    handlers: {
      POST: async (request, caller) => {
        const csr = csrOf(request);
        if (caller.principal.role !== 'node') throw new ResponseError(ResponseCode.Forbidden, 'nodes re-enroll', { diagnostic: 'only a node re-enrolls, with its current certificate' });
        return certificateResponse(await enrollment.reenroll(caller.principal.name, csr));
      },
    },
  });
}

/** The enrollment endpoint's one resource. Its DTLS peers are bootstrap PSKs only (the
 * endpoint's lookup knows no other identity), so the identity names the credential. */
export function serveSimpleEnroll(endpoint: Endpoint, enrollment: Enrollment): void {
  endpoint.router.add(GatewayRoute.estEnroll, {
    handlers: {
      POST: async (request) => certificateResponse(await enrollment.enroll(request.peer.identity, csrOf(request))),
    },
  });
}
