// The gateway's way to a node's agent (DESIGN §5, LwM2M's pattern): requests go back over
// the DTLS session the agent opened, so a node behind NAT or a firewall needs no inbound
// port. The link learns where each node is from the node's own authenticated requests
// (its latest session's address) and forgets it when that session ends or the node goes
// silent (presence: offline; a killed agent's session lingers in DTLS). A node without a
// session, or one that does not answer in time, is 5.04 quickly, never a hang; the
// forwards in flight are bounded per node and in total (5.03 past either).

import { ResponseCode } from '../protocol/codes.js';
import type { CoapResponse } from '../protocol/client.js';
import type { Endpoint, RequestOptions } from '../protocol/endpoint.js';
import { ResponseError } from '../protocol/errors.js';
import { formatPeer, peerKey, type Logger, type Peer, type PeerAddress } from '../protocol/interfaces.js';
import type { Observation, ObserveOptions } from '../protocol/observe-client.js';

export interface NodeLinkLimits {
  /** How long a node has to answer a forwarded request. */
  readonly timeoutMs: number;
  /** Forwards in flight to one node. */
  readonly pendingPerNode: number;
  /** Forwards in flight in all. */
  readonly pendingTotal: number;
}

export const DEFAULT_NODE_LINK_LIMITS: NodeLinkLimits = { timeoutMs: 10_000, pendingPerNode: 8, pendingTotal: 1024 };

/** What a forwarded request says; the path is the agent's (`/services`, not `/nodes/…`). */
export type NodeRequest = Omit<RequestOptions, 'uri' | 'peer' | 'timeoutMs'> & { readonly maxBodySize?: number };

/** 5.04 Gateway Timeout (RFC 7252 §5.9.3.5): the node has no session, or did not answer. */
export class NodeUnreachable extends ResponseError {
  constructor(nodeId: string, why: string) {
    super(ResponseCode.GatewayTimeout, `node ${nodeId}: ${why}`, { diagnostic: `node ${nodeId} ${why}`, code: 'GATEWAY_ERR_NODE_UNREACHABLE' });
  }
}

export class NodeLink {
  readonly #endpoint: Endpoint | undefined;
  readonly #limits: NodeLinkLimits;
  readonly #logger: Logger;
  /** node id → its latest session's address; one entry per node that has a session. */
  readonly #peers = new Map<string, PeerAddress>();
  /** peer key → node id, to forget a node when its session ends. */
  readonly #nodes = new Map<string, string>();
  readonly #pending = new Map<string, number>();
  #pendingTotal = 0;
  readonly #listeners = new Set<(nodeId: string, connected: boolean) => void>();

  /** `endpoint` is the gateway's DTLS endpoint (undefined: no DTLS, no node is reachable). */
  constructor(endpoint: Endpoint | undefined, options: { readonly logger: Logger; readonly limits?: Partial<NodeLinkLimits> }) {
    this.#endpoint = endpoint;
    this.#limits = { ...DEFAULT_NODE_LINK_LIMITS, ...options.limits };
    this.#logger = options.logger;
    endpoint?.onPeerGone((peer) => this.#gone(peer));
  }

  /** A node's authenticated request arrived from `peer` (over DTLS: it carries an identity). */
  seen(nodeId: string, peer: Peer): void {
    // Only a DTLS session is a way back; without the DTLS endpoint there is none.
    if (peer.identity === undefined || this.#endpoint === undefined) return;
    const key = peerKey(peer);
    const previous = this.#peers.get(nodeId);
    if (previous !== undefined && peerKey(previous) === key) return;
    if (previous !== undefined) this.#nodes.delete(peerKey(previous));
    this.#peers.set(nodeId, { address: peer.address, port: peer.port });
    this.#nodes.set(key, nodeId);
    this.#logger.debug({ node: nodeId, peer: formatPeer(peer) }, 'node session');
    if (previous === undefined) for (const listener of this.#listeners) listener(nodeId, true);
  }

  /** The node went silent (presence: offline): a session that carries nothing any more
   * (its agent killed, its link cut; DTLS says nothing of either until the idle timeout)
   * is given up, so forwards are 5.04 at once instead of after the timeout, and the
   * watches and shared observations over it end. The node's next request, over this
   * session or a new one, links it again (seen). */
  forget(nodeId: string): void {
    const peer = this.#peers.get(nodeId);
    if (peer === undefined) return;
    this.#peers.delete(nodeId);
    this.#nodes.delete(peerKey(peer));
    this.#logger.debug({ node: nodeId, peer: formatPeer(peer) }, 'node session given up: the node is silent');
    for (const listener of this.#listeners) listener(nodeId, false);
  }

  /** Where the node's session is, if it has one. */
  peerOf(nodeId: string): PeerAddress | undefined {
    return this.#peers.get(nodeId);
  }

  /** The smoothed RTT (ms) the gateway's message layer has learnt for the node's session
   * (CoCoA: the strong estimator, else the weak one; rto-estimator.ts); undefined without
   * a session or a sample. */
  rttMs(nodeId: string): number | undefined {
    const peer = this.#peers.get(nodeId);
    const estimate = peer === undefined ? undefined : this.#endpoint?.messageLayer.rtt(peer);
    return estimate?.strong?.srtt ?? estimate?.weak?.srtt;
  }

  connected(nodeId: string): boolean {
    return this.#peers.has(nodeId);
  }

  /** Calls `listener` when a node gains its first session or loses its last one. */
  onChange(listener: (nodeId: string, connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** Sends a request to the node's agent over its session; NodeUnreachable (5.04) when it has
   * none or does not answer within the bound, ResponseError 5.03 when too many are pending. */
  async request(nodeId: string, request: NodeRequest): Promise<CoapResponse> {
    const peer = this.#reachable(nodeId);
    const release = this.#admit(nodeId);
    try {
      return await this.#endpoint!.request({ ...request, peer, timeoutMs: this.#limits.timeoutMs });
    } catch (error) {
      throw this.#unreachable(nodeId, error);
    } finally {
      release();
    }
  }

  /** Observes an agent resource over the node's session (RFC 7641). */
  async observe(nodeId: string, request: NodeRequest & ObserveOptions): Promise<{ observation: Observation; first: CoapResponse }> {
    const peer = this.#reachable(nodeId);
    const release = this.#admit(nodeId);
    try {
      return await this.#endpoint!.observe({ ...request, peer, timeoutMs: this.#limits.timeoutMs });
    } catch (error) {
      throw this.#unreachable(nodeId, error);
    } finally {
      release();
    }
  }

  #reachable(nodeId: string): PeerAddress {
    const peer = this.#peers.get(nodeId);
    if (peer === undefined || this.#endpoint === undefined) throw new NodeUnreachable(nodeId, 'has no session with the gateway');
    return peer;
  }

  #admit(nodeId: string): () => void {
    const pending = this.#pending.get(nodeId) ?? 0;
    if (pending >= this.#limits.pendingPerNode || this.#pendingTotal >= this.#limits.pendingTotal) {
      const which = pending >= this.#limits.pendingPerNode ? `${pending} requests to node ${nodeId}` : `${this.#pendingTotal} requests to nodes`;
      throw new ResponseError(ResponseCode.ServiceUnavailable, `${which} in flight`, { diagnostic: `${which} in flight; try again`, maxAge: 1, code: 'GATEWAY_ERR_NODE_BUSY' });
    }
    this.#pending.set(nodeId, pending + 1);
    this.#pendingTotal++;
    return () => {
      const left = (this.#pending.get(nodeId) ?? 1) - 1;
      if (left === 0) this.#pending.delete(nodeId);
      else this.#pending.set(nodeId, left);
      this.#pendingTotal--;
    };
  }

  /** A timeout, a reset or the session ending mid-request all mean "did not answer". */
  #unreachable(nodeId: string, error: unknown): unknown {
    if (error instanceof ResponseError) return error;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^COAP_ERR_(RETRANSMIT_TIMEOUT|TIMEOUT|RESET|CLOSED|CANCELLED)$/.test(code)) {
      return new NodeUnreachable(nodeId, `did not answer (${code})`);
    }
    return error;
  }

  #gone(peer: Peer): void {
    const key = peerKey(peer);
    const nodeId = this.#nodes.get(key);
    if (nodeId === undefined) return;
    this.#nodes.delete(key);
    const current = this.#peers.get(nodeId);
    if (current === undefined || peerKey(current) !== key) return;
    this.#peers.delete(nodeId);
    this.#logger.debug({ node: nodeId, peer: formatPeer(peer) }, 'node session ended');
    for (const listener of this.#listeners) listener(nodeId, false);
  }
}
