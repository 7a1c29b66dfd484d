// Bootstrap credentials for enrollment (RFC 9148; DESIGN §6), asked of the gateway as an
// operator: POST /certificates/bootstrap gives a single-use PSK for one node id that
// expires; it is written as the node's credentials file (0600) for its agent's
// bootstrap_file, which enrolls with it once and then runs on its own certificate.

import { writeCredentialsFile } from '../fleet/credentials-file.js';
import { GatewayRoute } from '../fleet/paths.js';
import { Method } from '../protocol/codes.js';
import type { GatewayClient } from './gateway-client.js';

export interface BootstrapCredential {
  readonly identity: string;
  readonly key_hex: string;
  readonly expires_at: string;
}

/** Asks the gateway for a bootstrap credential for `nodeId` valid `expiresS` seconds, and
 * writes it to `file` (0600) as a credentials file. */
export async function createBootstrapCredential(gateway: GatewayClient, nodeId: string, expiresS: number, file: string): Promise<BootstrapCredential> {
  const credential = await gateway.json<BootstrapCredential>(Method.POST, GatewayRoute.bootstraps, { node_id: nodeId, expires_s: expiresS });
  await writeCredentialsFile(file, { identity: credential.identity, key: Buffer.from(credential.key_hex, 'hex') });
  return credential;
}
