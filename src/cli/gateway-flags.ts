// The flags of the operator verbs that talk to the gateway (publish, nodes, rollout):
// its URI and the operator's credentials (--credentials FILE or the DTLS flags), turned
// into src/operator's typed gateway options.

import { DEFAULT_GATEWAY, type GatewayOptions } from '../operator/gateway-client.js';
import { parseUri } from '../protocol/uri.js';
import type { FlagValues } from './args.js';
import { clientDtlsCredentials, CREDENTIALS_FLAG, DTLS_FLAGS } from './dtls-flags.js';

export const GATEWAY_FLAGS = {
  gateway: { type: 'string', value: 'URI', description: `the gateway (default ${DEFAULT_GATEWAY}; coaps:// needs credentials)` },
  ...CREDENTIALS_FLAG,
  ...DTLS_FLAGS,
} as const;

export async function gatewayOptions(flags: FlagValues<typeof GATEWAY_FLAGS>): Promise<GatewayOptions> {
  const gateway = flags.gateway ?? DEFAULT_GATEWAY;
  return { gateway, dtls: await clientDtlsCredentials(parseUri(gateway), flags) };
}
