// Who is asking (DESIGN §6): a principal derived from the DTLS identity (PSK identity or
// certificate subject), `operator:<name>` or `node:<id>`; plain CoAP from loopback is the
// local administrator (the demo, local tooling) only when the daemon allows it.

import { isValidId } from './paths.js';

export type Role = 'operator' | 'node' | 'local';

export interface Principal {
  readonly role: Role;
  readonly name: string;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;
export const isLoopback = (address: string): boolean => LOOPBACK.test(address);

/** `operator:alice` or `node:n1`, alone (a PSK identity) or as the CN of a certificate
 * subject ("O=coap-fleet, CN=node:n1"); undefined when it names no known role. */
export function principalFromIdentity(identity: string | undefined): Principal | undefined {
  if (identity === undefined) return undefined;
  const commonName = /(?:^|,\s*)CN=([^,]+)/.exec(identity)?.[1] ?? identity;
  const match = /^(operator|node):(.+)$/.exec(commonName.trim());
  if (match === null || !isValidId(match[2]!)) return undefined;
  return { role: match[1] as Role, name: match[2]! };
}
