// The /.well-known/core attributes of coap-fleet's resources, the gateway's and the agent's
// (RFC 6690 §3, RFC 7252 §7.2.1, RFC 7641 §6): one spelling for every resource, so a client
// reads both listings alike.

import { ContentFormat } from '../protocol/content-formats.js';
import type { LinkAttribute } from '../protocol/link-format.js';

/** What a client can do with a resource, as its `if` (RFC 6690 §3.2 allows any name):
 * - `collection`: GET lists, POST adds where it may (/nodes, /updates, /alerts);
 * - `item`: GET reads, PUT or DELETE changes (one node, one update, its status, health);
 * - `action`: POST does something and answers with its outcome at most (install, a node's restart);
 * - `log`: GET reads, in pages (/audit). */
export type Interface = 'collection' | 'item' | 'action' | 'log';

/** The representations served: an app payload in JSON or CBOR by Accept, or octets. */
export type Formats = 'app' | 'octets' | 'none';

export function linkAttributes(name: string, options: { if: Interface; ct: Formats; obs?: boolean }): LinkAttribute[] {
  const ct = options.ct === 'app' ? `${ContentFormat.Json} ${ContentFormat.Cbor}` : options.ct === 'octets' ? String(ContentFormat.OctetStream) : undefined;
  return [
    { name: 'rt', value: `coap-fleet.${name}` },
    { name: 'if', value: `coap-fleet.${options.if}` },
    ...(ct === undefined ? [] : [{ name: 'ct', value: ct }]),
    ...(options.obs === true ? [{ name: 'obs' }] : []),
  ];
}
