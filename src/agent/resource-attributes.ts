// The /.well-known/core attributes of the agent's resources (RFC 6690 §3, RFC 7641 §6):
// rt, if, ct and obs, spelled as the gateway spells its own (src/server/link-attributes.ts,
// which the agent may not import), so a client reads both listings alike.

import { ContentFormat } from '../protocol/content-formats.js';
import type { LinkAttribute } from '../protocol/link-format.js';

export function agentAttributes(name: string, options: { readonly if: 'item' | 'collection' | 'log'; readonly obs: boolean }): LinkAttribute[] {
  return [
    { name: 'rt', value: `coap-fleet.${name}` }, { name: 'if', value: `coap-fleet.${options.if}` },
    { name: 'ct', value: `${ContentFormat.Json} ${ContentFormat.Cbor}` },
    ...(options.obs ? [{ name: 'obs' }] : []),
  ];
}
