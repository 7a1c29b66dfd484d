// Where the gateway listens: the one place that creates its CoAP endpoints, plain UDP
// (RFC 7252) and CoAP over DTLS (RFC 7252 §9: PSK or certificates, server role), so a
// transport is chosen here and nowhere else.

import { createDtlsEndpoint, DtlsEndpoint } from '../dtls/dtls-endpoint.js';
import type { RevocationCheck } from '../dtls/wasm-module.js';
import { Endpoint, type EndpointOptions } from '../protocol/endpoint.js';
import type { Logger } from '../protocol/interfaces.js';
import type { ObserveLimits } from '../protocol/observe-server.js';
import type { GatewayConfig } from './config.js';
import { loadDtlsCredentials } from './credentials.js';
import { ConfigError } from './errors.js';

export interface GatewayEndpoints {
  /** Plain CoAP: no identities; `local` from loopback when the config allows it. */
  readonly coap?: Endpoint | undefined;
  /** CoAP over DTLS: each request carries its peer's authenticated identity. */
  readonly coaps?: Endpoint | undefined;
  /** EST enrollment (RFC 9148) over DTLS with bootstrap PSKs only; not the gateway's
   * router: it serves /.well-known/est/sen alone (resources-enrollment.ts). */
  readonly est?: Endpoint | undefined;
  /** CoAP over WebSocket for the dashboard (RFC 8323 §4; dashboard.ts): each connection
   * carries the identity of its login's operator. */
  readonly dashboard?: Endpoint | undefined;
}

/** Ends the DTLS sessions whose peer certificate `matches`; how many (none without DTLS). */
export function endCertificateSessions(endpoints: GatewayEndpoints, matches: (certificate: { serial: string; subject: string }) => boolean): number {
  const { coaps } = endpoints;
  if (!(coaps instanceof DtlsEndpoint)) return 0;
  return coaps.transport.closeSessionsWhere((_identity, certificate) => certificate !== undefined && matches(certificate));
}

/** The enrollment endpoint on dtls_host:est_port: PSK mode, its keys the bootstrap
 * credentials (`pskLookup`). Kept apart from the certificate port, whose DTLS context has
 * one suite (DESIGN §4), and so that a bootstrap key reaches nothing but enrollment. */
export async function openEnrollmentEndpoint(config: GatewayConfig, pskLookup: (identity: string) => Uint8Array | undefined, logger: Logger): Promise<Endpoint> {
  return createDtlsEndpoint({
    role: 'server', mode: 'psk', pskLookup, host: config.dtls_host, port: config.est_port!, logger,
    endpoint: { parameters: { congestionControl: config.retransmission } },
  });
}

/** Every endpoint the gateway closes at its stop. */
export const allEndpoints = (endpoints: GatewayEndpoints): Endpoint[] =>
  [...endpointList(endpoints), ...(endpoints.est === undefined ? [] : [endpoints.est])];

export const endpointList = (endpoints: GatewayEndpoints): Endpoint[] =>
  [endpoints.coap, endpoints.coaps, endpoints.dashboard].filter((endpoint): endpoint is Endpoint => endpoint !== undefined);

/** Observe bounds for a gateway of 10,000 nodes (DESIGN §10), each observing /updates:
 * room for all of them on one resource with a fifth to spare, operators and dashboards on
 * top in the total; and a few per identity, so one node's credential, whatever number of
 * sessions it opens, cannot shut the others out (DESIGN §6). An agent needs one. */
export const GATEWAY_OBSERVE_LIMITS: Partial<ObserveLimits> = {
  perResource: 12_000,
  perPeer: 8,
  total: 30_000,
};

/** The DTLS socket's receive buffer: a registration storm (10,000 nodes at once after a
 * gateway restart) sends thousands of ClientHellos within a second, and the kernel's
 * default (~208 KiB, some 300 datagrams) drops most of them, so each waits out a 1 s,
 * 2 s, 4 s… handshake retransmission (RFC 6347 §4.2.4.1). Linux caps it at
 * net.core.rmem_max (often 4 MiB here; 208 KiB on a stock kernel, where raising rmem_max
 * is the operator's part). */
export const DTLS_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** Opens the endpoints the config asks for; on failure, closes what it had opened. With
 * certificates, `revoked` is asked at every handshake (the gateway's revocation list). */
export async function openEndpoints(config: GatewayConfig, logger: Logger, revoked?: RevocationCheck): Promise<GatewayEndpoints> {
  // Credentials first: a bad file is a config error before any socket is bound.
  const credentials = config.dtls_port === null ? undefined : await loadDtlsCredentials(config);
  // What the two endpoints share: the gateway's Observe bounds and retransmission timers.
  const endpointOptions: Omit<EndpointOptions, 'transport' | 'logger' | 'clock'> = {
    observeLimits: GATEWAY_OBSERVE_LIMITS, parameters: { congestionControl: config.retransmission },
    // Bound now, served once the gateway has added its resources (Gateway.start).
    starting: true,
  };
  const coap = config.port === null ? undefined : await Endpoint.udp({ host: config.host, port: config.port }, { ...endpointOptions, logger });
  if (credentials === undefined) return { coap };
  try {
    const coaps = await createDtlsEndpoint({
      role: 'server', host: config.dtls_host, port: config.dtls_port!, logger, endpoint: endpointOptions, receiveBufferSize: DTLS_RECEIVE_BUFFER_BYTES,
      limits: { hibernateAfterMs: config.dtls_hibernate_after_s * 1000, sessions: config.dtls_max_sessions },
      ...(credentials.mode === 'psk' ? { mode: 'psk', pskLookup: credentials.pskLookup }
        : { mode: 'certificate', certificates: credentials.certificates, ...(revoked === undefined ? {} : { revoked }) }),
    });
    return { coap, coaps };
  } catch (error) {
    await coap?.close();
    const code = (error as { code?: unknown }).code;
    if (code === 'DTLS_ERR_CONFIG') throw new ConfigError(`DTLS: ${(error as Error).message}`);
    throw error;
  }
}
