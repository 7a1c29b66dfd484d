// A gateway in the test process with a real DTLS endpoint (PSK) and a plain loopback one,
// a stand-in node agent that is a real DTLS client endpoint (registered with the gateway
// over its own session, serving /services, /logs, /system/… on it), and operator and node
// clients over DTLS. The stand-in replaces the real agent's resources, which another
// engineer is writing right now (src/agent): it serves fixed representations, counts the
// requests and observers it sees, and can be told to answer garbage or not at all.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDtlsEndpoint, DtlsEndpoint } from '../../../src/dtls/dtls-endpoint.js';
import { AgentRoute, GatewayRoute } from '../../../src/fleet/paths.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import { encodeBody } from '../../../src/fleet/payload.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { Endpoint, type RequestOptions } from '../../../src/protocol/endpoint.js';
import type { ResponseInit } from '../../../src/protocol/server-types.js';
import type { GatewayConfig } from '../../../src/server/config.js';
import { GATEWAY_OBSERVE_LIMITS } from '../../../src/server/endpoints.js';
import { Gateway } from '../../../src/server/gateway.js';
import { ensureWasm } from '../../helpers/wasm.js';
import { testConfig, type LogLine } from './gateway-harness.js';

await ensureWasm();

const LOOPBACK = '127.0.0.1';
const FAST = { handshakeTimeout: { initialMs: 200, maxMs: 800 } } as const;
const KEYS = new Map(['operator:alice', 'operator:bob', 'node:n1', 'node:n2'].map((identity) => [identity, Buffer.from(`key of ${identity}`)]));

/** What the stand-in answers: fixed bodies, or garbage, or nothing. */
export interface StandInBehaviour {
  /** Max-Age of its GET answers; undefined: none (60 s by default, RFC 7252 §5.10.5). */
  maxAge: number | undefined;
  /** Answers GET /system/config and /logs with a payload that is not the JSON it claims. */
  garbage: boolean;
  /** Never answers POST /system/restart nor GET /logs. */
  silent: boolean;
  /** GET /services answers once this settles. */
  hold: Promise<void> | undefined;
}

export class StandInAgent {
  readonly endpoint: DtlsEndpoint;
  readonly nodeId: string;
  readonly behaviour: StandInBehaviour = { maxAge: undefined, garbage: false, silent: false, hold: undefined };
  /** Requests seen, by "METHOD /path?query". */
  readonly seen = new Map<string, number>();
  /** The bodies of its POST and PUT requests, with their Content-Format. */
  readonly bodies: { path: string; payload: Buffer; contentFormat: number | undefined }[] = [];
  #logLine = 0;

  constructor(endpoint: DtlsEndpoint, nodeId: string) {
    this.endpoint = endpoint;
    this.nodeId = nodeId;
    const count = (method: string, path: string, query: readonly string[]): void => {
      const key = `${method} ${path}${query.length === 0 ? '' : `?${query.join('&')}`}`;
      this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
    };
    const view = (value: unknown, accept: number | undefined): ResponseInit => ({
      code: ResponseCode.Content, ...encodeBody(value, accept), ...(this.behaviour.maxAge === undefined ? {} : { maxAge: this.behaviour.maxAge }),
    });
    const command = (path: string): ResponseInit => ({ code: ResponseCode.Changed, ...encodeBody({ ok: true, path }, undefined) });
    const router = endpoint.router;
    router.add(AgentRoute.services, {
      handlers: {
        GET: async (request) => {
          count('GET', '/services', request.query);
          await this.behaviour.hold;
          return view({ services: [{ name: 'nginx', state: 'active' }] }, request.accept);
        },
      },
    });
    router.add(AgentRoute.service, {
      handlers: {
        GET: (request) => { count('GET', `/services/${request.params.name}`, request.query); return view({ name: request.params.name }, request.accept); },
        POST: (request) => {
          count('POST', `/services/${request.params.name}`, request.query);
          this.bodies.push({ path: `/services/${request.params.name}`, payload: request.payload, contentFormat: request.contentFormat });
          return command(`/services/${request.params.name}`);
        },
      },
    });
    router.add(AgentRoute.logs, {
      observable: true,
      handlers: {
        GET: (request) => {
          count('GET', '/logs', request.query);
          if (this.behaviour.silent) return new Promise<ResponseInit>(() => {});
          if (this.behaviour.garbage) return { code: ResponseCode.Content, contentFormat: ContentFormat.Json, payload: '{"lines": [' };
          return view({ lines: [`line ${this.#logLine}`], query: request.query }, request.accept);
        },
      },
    });
    router.add(AgentRoute.config, {
      handlers: {
        GET: (request) => {
          count('GET', '/system/config', request.query);
          if (this.behaviour.garbage) return { code: ResponseCode.Content, contentFormat: ContentFormat.Json, payload: '{"log_level": deb' };
          return view({ log_level: 'info' }, request.accept);
        },
        PUT: (request) => {
          count('PUT', '/system/config', request.query);
          this.bodies.push({ path: '/system/config', payload: request.payload, contentFormat: request.contentFormat });
          return command('/system/config');
        },
      },
    });
    router.add(AgentRoute.restart, {
      handlers: {
        POST: (request) => {
          count('POST', '/system/restart', request.query);
          // Never settles: the gateway must give up on its own bound.
          if (this.behaviour.silent) return new Promise<ResponseInit>(() => {});
          return command('/system/restart');
        },
      },
    });
  }

  count(key: string): number {
    return this.seen.get(key) ?? 0;
  }

  /** A new log line: its observers (the gateway) are notified. */
  log(): void {
    this.#logLine++;
    this.endpoint.notify(AgentRoute.logs);
  }
}

export interface ForwardingWorld {
  readonly gateway: Gateway;
  readonly logs: LogLine[];
  /** The gateway's clock: tests move it to expire cached responses. */
  readonly clock: { ms: number };
  /** A DTLS client with this identity ("operator:alice", "node:n2"). */
  client(identity: string): Promise<DtlsEndpoint>;
  /** A plain CoAP client on loopback: the `local` operator. */
  local(): Promise<Endpoint>;
  /** A stand-in agent for `node:ID`, registered with the gateway over its own session. */
  agent(nodeId: string): Promise<StandInAgent>;
  request(client: Endpoint, method: keyof typeof Method, path: string, options?: Omit<RequestOptions, 'peer' | 'path' | 'method'>): Promise<CoapResponse>;
  /** The gateway's DTLS address. */
  readonly coaps: { address: string; port: number };
  close(): Promise<void>;
}

export async function forwardingWorld(overrides: Partial<GatewayConfig> = {}): Promise<ForwardingWorld> {
  const dataDir = await mkdtemp(join(tmpdir(), 'coap-fleet-forward-'));
  const logs: LogLine[] = [];
  const logger = createDaemonLogger({ level: 'debug', pretty: false, stream: { write: (line) => logs.push(JSON.parse(line) as LogLine) } });
  const coaps = await createDtlsEndpoint({
    role: 'server', mode: 'psk', pskLookup: (identity) => KEYS.get(identity), host: LOOPBACK, port: 0, ...FAST,
    endpoint: { observeLimits: GATEWAY_OBSERVE_LIMITS },
  });
  const coap = await Endpoint.udp({ host: LOOPBACK, port: 0 });
  const clock = { ms: Date.now() };
  const gateway = await Gateway.start({ config: testConfig(dataDir, overrides), logger, endpoints: { coap, coaps }, now: () => new Date(clock.ms) });
  const clients: Endpoint[] = [];
  const address = { address: LOOPBACK, port: coaps.address().port };
  const world: ForwardingWorld = {
    gateway, logs, clock, coaps: address,
    async client(identity) {
      const client = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key: KEYS.get(identity)! }, host: LOOPBACK, port: 0, ...FAST });
      clients.push(client);
      return client;
    },
    async local() {
      const client = await Endpoint.udp({ host: LOOPBACK, port: 0 });
      clients.push(client);
      return client;
    },
    async agent(nodeId) {
      const agent = new StandInAgent(await world.client(`node:${nodeId}`), nodeId);
      const registered = await world.request(agent.endpoint, 'POST', GatewayRoute.nodes, {
        payload: JSON.stringify({ node_id: nodeId, version: '1.0.0', hardware: 'stand-in', agent_port: 0 }), contentFormat: ContentFormat.Json,
      });
      if (registered.code !== ResponseCode.Created) throw new Error(`registration: ${registered.code}`);
      return agent;
    },
    request(client, method, path, options = {}) {
      const peer = client instanceof DtlsEndpoint ? address : { address: LOOPBACK, port: coap.address().port };
      return client.request({ peer, path, method: Method[method], timeoutMs: 20_000, ...options });
    },
    async close() {
      await gateway.stop();
      await Promise.all(clients.map((client) => client.close()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return world;
}
