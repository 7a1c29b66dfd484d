// An ephemeral client endpoint for one URI: plain UDP for coap://, DTLS with the given
// credentials for coaps:// (RFC 7252 §9.1), bound to the wildcard of the URI's family.
// The operator's gateway client and the CLI's request verbs open theirs here.

import { isIPv6 } from 'node:net';
import { createDtlsEndpoint } from '../dtls/dtls-endpoint.js';
import type { DtlsCredentials } from '../dtls/transport-options.js';
import { Endpoint } from '../protocol/endpoint.js';
import type { CoapUri } from '../protocol/uri.js';
import { CredentialsError } from './errors.js';

export interface ClientEndpointOptions {
  /** Required for coaps://, refused for coap://. */
  readonly dtls?: DtlsCredentials | undefined;
  /** The block size asked for (RFC 7959 §2.2: 2^(exponent+4) bytes). */
  readonly maxBlockSizeExponent?: number | undefined;
}

export async function openClientEndpoint(uri: CoapUri, options: ClientEndpointOptions = {}): Promise<Endpoint> {
  const host = isIPv6(uri.host) ? '::' : '0.0.0.0';
  const endpointOptions = options.maxBlockSizeExponent === undefined ? {} : { maxBlockSizeExponent: options.maxBlockSizeExponent };
  if (uri.scheme === 'coap') {
    if (options.dtls !== undefined) throw new CredentialsError('DTLS credentials need a coaps:// URI');
    return Endpoint.udp({ host, port: 0 }, endpointOptions);
  }
  if (options.dtls === undefined) throw new CredentialsError('coaps:// needs DTLS credentials');
  return createDtlsEndpoint({ role: 'client', ...options.dtls, host, port: 0, endpoint: endpointOptions });
}
