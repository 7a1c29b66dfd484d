// The one place the agent's CoAP endpoint is made: plain CoAP over UDP for coap://, or a
// DTLS 1.2 client (src/dtls, PSK or P-256 certificates, DESIGN §4) for coaps://. The rest
// of the agent sees an Endpoint either way.

import { isIPv6 } from 'node:net';
import { createDtlsEndpoint } from '../dtls/index.js';
import { Endpoint } from '../protocol/endpoint.js';
import type { Logger } from '../protocol/interfaces.js';
import { parseUri } from '../protocol/uri.js';
import type { AgentConfig } from './config.js';
import { TransportUnavailableError } from './errors.js';

export async function createGatewayEndpoint(config: AgentConfig, logger: Logger): Promise<Endpoint> {
  const uri = parseUri(config.gateway);
  const host = config.listenHost ?? (isIPv6(uri.host) ? '::' : '0.0.0.0');
  const parameters = { congestionControl: config.retransmission };
  if (uri.scheme === 'coap') return Endpoint.udp({ host, port: config.listenPort }, { logger, parameters });
  const { dtls } = config;
  // The config refuses coaps:// without credentials; this guards a config built by hand.
  if (dtls === undefined) throw new TransportUnavailableError('coaps:// needs DTLS credentials (psk_key_file or cert_file + key_file + ca_file)');
  const credentials = dtls.mode === 'psk'
    ? { mode: 'psk' as const, psk: { identity: dtls.identity, key: dtls.key } }
    : {
      mode: 'certificate' as const, certificates: { cert: dtls.cert, key: dtls.key, ca: dtls.ca },
      ...(dtls.serverName === undefined ? {} : { serverName: dtls.serverName }),
    };
  return createDtlsEndpoint({ role: 'client', ...credentials, host, port: config.listenPort, logger, endpoint: { parameters } });
}
