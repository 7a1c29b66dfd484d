// A CoAP endpoint over DTLS in one call: the transport bound and the endpoint built on it.
// Its client requests end with the handshake's typed DtlsError (bad PSK, untrusted
// certificate…) as soon as the handshake to their peer fails, instead of timing out; and a
// request that times out drops the session with that peer, so the next one handshakes anew
// (a restarted server silently drops records of a session it lost). The only file of
// src/dtls that knows the endpoint.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { BlockSink, DownloadOptions, DownloadResult, UploadOptions } from '../protocol/block-client.js';
import type { BodySource } from '../protocol/body.js';
import type { CoapResponse } from '../protocol/client.js';
import { Endpoint, type EndpointOptions, type RequestOptions } from '../protocol/endpoint.js';
import { peerKey, type PeerAddress } from '../protocol/interfaces.js';
import type { Observation, ObserveOptions } from '../protocol/observe-client.js';
import type { UdpTransportOptions } from '../protocol/transport-udp.js';
import { parseUri } from '../protocol/uri.js';
import type { DtlsError } from './errors.js';
import { DtlsTransport, type DtlsTransportOptions } from './transport-dtls.js';

export type DtlsEndpointOptions = DtlsTransportOptions & Pick<UdpTransportOptions, 'host' | 'port' | 'receiveBufferSize' | 'sendBufferSize'> & {
  /** The endpoint's own options (the logger is shared with the transport). */
  readonly endpoint?: Omit<EndpointOptions, 'transport' | 'logger' | 'clock'>;
};

const TIMEOUT_CODES = new Set(['COAP_ERR_TIMEOUT', 'COAP_ERR_RETRANSMIT_TIMEOUT']);

export class DtlsEndpoint extends Endpoint {
  readonly transport: DtlsTransport;

  constructor(transport: DtlsTransport, options: Omit<EndpointOptions, 'transport'> = {}) {
    super({ ...options, transport });
    this.transport = transport;
  }

  override request(options: RequestOptions & { maxBodySize?: number }): Promise<CoapResponse> {
    return this.#guarded(options, false, (signal) => super.request({ ...options, signal }));
  }

  override observe(options: RequestOptions & ObserveOptions & { maxBodySize?: number }): Promise<{ observation: Observation; first: CoapResponse }> {
    // The signal outlives the registration: it still cancels the observation later; and a
    // renewal that times out drops the session, as a request's timeout does.
    return this.#guarded(options, true, (signal, peer) => super.observe({
      ...options, signal,
      ...(peer === undefined || this.transport.role !== 'client' ? {} : { onRegistrationTimeout: () => { this.transport.closeSession(peer); } }),
    }));
  }

  override download(options: RequestOptions & DownloadOptions & { sink: BlockSink }): Promise<DownloadResult> {
    return this.#guarded(options, false, (signal) => super.download({ ...options, signal }));
  }

  override upload(options: RequestOptions & UploadOptions & { source: BodySource }): Promise<CoapResponse> {
    return this.#guarded(options, false, (signal) => super.upload({ ...options, signal }));
  }

  /** Runs `run` with a signal that also aborts when the handshake with the request's peer
   * fails; the request then rejects with that DtlsError. A server makes no handshakes: its
   * requests (the gateway's to its nodes) keep the caller's signal, if any, and cost no
   * AbortController each (an observation keeps its signal while it lasts). */
  async #guarded<T>(options: RequestOptions, keepSignal: boolean, run: (signal: AbortSignal | undefined, peer: PeerAddress | undefined) => Promise<T>): Promise<T> {
    const outer = options.signal;
    if (this.transport.role !== 'client') return run(outer, undefined);
    const peer = await this.#peerOf(options);
    const controller = new AbortController();
    const relay = (): void => controller.abort(outer?.reason);
    if (outer?.aborted === true) controller.abort(outer.reason);
    else outer?.addEventListener('abort', relay, { once: true });
    let failure: DtlsError | undefined;
    const key = peer === undefined ? undefined : peerKey(peer);
    const unlisten = this.transport.onHandshakeError((error, failed) => {
      if (failure !== undefined || peerKey(failed) !== key) return;
      failure = error;
      controller.abort(error);
    });
    try {
      return await run(controller.signal, peer);
    } catch (error) {
      if (failure !== undefined) throw failure;
      const code = (error as { code?: unknown }).code;
      // A NON that got no answer says nothing of the session: NONs may be lost (§4.3).
      if (peer !== undefined && options.confirmable !== false && typeof code === 'string' && TIMEOUT_CODES.has(code)) this.transport.closeSession(peer);
      throw error;
    } finally {
      unlisten();
      if (!keepSignal) outer?.removeEventListener('abort', relay);
    }
  }

  /** Where the request goes, resolved as the endpoint resolves it; undefined when it
   * cannot be known here (the endpoint then reports the problem itself). */
  async #peerOf(options: RequestOptions): Promise<PeerAddress | undefined> {
    if (options.uri === undefined) return options.peer;
    try {
      const uri = parseUri(options.uri);
      if (isIP(uri.host) !== 0) return { address: uri.host, port: uri.port };
      const family = this.transport.address().address.includes(':') ? 6 : 4;
      return { address: (await lookup(uri.host, { family })).address, port: uri.port };
    } catch {
      return undefined;
    }
  }
}

/** Binds a DTLS transport (client or server role, PSK or certificates) and builds an
 * endpoint on it. */
export async function createDtlsEndpoint(options: DtlsEndpointOptions): Promise<DtlsEndpoint> {
  const transport = await DtlsTransport.bind(options);
  return new DtlsEndpoint(transport, {
    ...options.endpoint,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
}
