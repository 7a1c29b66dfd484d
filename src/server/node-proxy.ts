// Proxy-Uri and Proxy-Scheme on the gateway (RFC 7252 §5.7.2), for registered nodes only:
// `coaps://node-1/services` (or Proxy-Scheme with Uri-Host node-1 and Uri-Path services)
// is served exactly as /nodes/node-1/services is, through the same access table, cache
// and bounds. Any other host is 5.05 with a diagnostic: the gateway is never an open
// proxy (DESIGN §6), and reaches a node only over the session the node opened.

import { isIP } from 'node:net';
import { isValidId } from '../fleet/paths.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import type { ProxyResolver } from '../protocol/server-types.js';
import { notFound } from './replies.js';
import type { NodeRecord } from './records.js';

const ONLY_NODES = 'only registered nodes: coaps://NODE-ID/path';

/** Maps a proxy request for a registered node onto /nodes/{id}/…; the scheme may be coap or
 * coaps and the port anything, since the node's leg is always its own DTLS session. */
export function nodeProxy(getNode: (id: string) => NodeRecord | undefined, listNodes: () => readonly NodeRecord[]): ProxyResolver {
  return (target) => {
    const { host } = target;
    if (target.scheme !== 'coap' && target.scheme !== 'coaps') {
      throw new ResponseError(ResponseCode.ProxyingNotSupported, `scheme ${target.scheme}`, { diagnostic: `no ${target.scheme} proxy; ${ONLY_NODES}` });
    }
    if (host === undefined || isIP(host) !== 0 || !isValidId(host)) {
      throw new ResponseError(ResponseCode.ProxyingNotSupported, `host ${host ?? '(none)'}`, { diagnostic: ONLY_NODES });
    }
    // §6.3: a URI's host is case-insensitive (parseUri lowercases it); node ids are not.
    const node = getNode(host) ?? listNodes().find((candidate) => candidate.registration.node_id.toLowerCase() === host);
    if (node === undefined) throw notFound(`node ${host} (${ONLY_NODES})`);
    return { path: ['nodes', node.registration.node_id, ...target.path], query: target.query };
  };
}
