// A stand-in for the gateway's forwarding of /nodes/{id}/… to the nodes' agents (issue 11:
// the real forwarding is being written by another engineer as this is): a real CoAP
// endpoint on loopback (plain UDP, or DTLS with PSKs) serving the paths as the gateway will,
// each node answered by a small agent model that checks signed commands with the real
// verifyCommand against the operator's public key, and answers refusals 4.01/4.03/4.00
// with the reason as the diagnostic, as the agent does. A unit-test stand-in only.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { createDtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import { verifyCommand, type CommandEnvelope, type CommandRefusal } from '../../src/fleet/command-envelope.js';
import { MemoryNonceLedger } from '../../src/fleet/nonce-ledger.js';
import type { CommandResultView, LogEntry, MetricsView, NodeConfigView, ServicesView } from '../../src/fleet/node-views.js';
import { GatewayRoute, gatewayPath } from '../../src/fleet/paths.js';
import type { HealthView } from '../../src/fleet/views.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { ResponseError } from '../../src/protocol/errors.js';
import { OptionNumber } from '../../src/protocol/options.js';
import type { CoapRequest, ResponseInit } from '../../src/protocol/server-types.js';

export interface StandInOptions {
  /** The operator's command public key (PEM) the agents pin. */
  readonly operatorPublicKey: string;
  /** The nodes served; any other id gets 4.04. */
  readonly nodeIds: readonly string[];
  /** Requests for the key's node are answered by the value's agent: a gateway that
   * routes a command to the wrong node (the agent must refuse it). */
  readonly misroute?: Readonly<Record<string, string>>;
  /** DTLS PSKs by identity (gateway-psk.json's table, keys as Buffers); plain UDP without. */
  readonly psk?: ReadonlyMap<string, Buffer>;
  /** Each logs notification repeats the last entry of the previous one as well, as a
   * re-rendered window would. */
  readonly overlappingNotifications?: boolean;
  /** False: /nodes/{id}/logs answers a registration without Observe (default true). */
  readonly observableLogs?: boolean;
}

export interface StandInGateway {
  readonly uri: string;
  /** Every request's path and query, in order: what the operator's tools sent. */
  readonly requests: { method: number; path: string; query: readonly string[] }[];
  /** The commands each node's agent accepted, in order. */
  readonly accepted: CommandEnvelope[];
  /** Appends to a node's log and notifies its followers. */
  appendLogs(nodeId: string, entries: readonly LogEntry[]): void;
  /** How many observe a node's logs now. */
  logObservers(nodeId: string): number;
  close(): Promise<void>;
}

const REFUSAL_CODES: Readonly<Record<CommandRefusal, number>> = {
  unsigned: ResponseCode.Unauthorized, 'unknown-key': ResponseCode.Unauthorized, 'bad-signature': ResponseCode.Unauthorized,
  'other-node': ResponseCode.Forbidden, expired: ResponseCode.Forbidden, 'too-far-in-future': ResponseCode.Forbidden,
  replayed: ResponseCode.Forbidden, malformed: ResponseCode.BadRequest,
};

export const SAMPLE_AT = '2026-12-06T20:00:00Z';

/** The node's model: what its agent would show and keep. */
interface NodeModel {
  readonly config: Record<string, string | number | boolean | readonly string[]>;
  readonly logs: LogEntry[];
  readonly services: Map<string, { state: string; sub: string; restarts: number }>;
  /** Per follower (the observation's token): how far into `logs` it was sent. */
  readonly cursors: Map<string, number>;
}

export async function startStandInGateway(options: StandInOptions): Promise<StandInGateway> {
  const trustedKeys: KeyObject[] = [createPublicKey(options.operatorPublicKey)];
  const nonces = new MemoryNonceLedger();
  const models = new Map<string, NodeModel>(options.nodeIds.map((id) => [id, {
    config: { log_level: 'info', metrics_interval_s: 10, allowed_units: ['demo-app.service'], hardware: 'stand-in' },
    logs: [
      { at: '2026-12-06T19:59:58Z', unit: 'demo-app.service', priority: 6, message: 'started' },
      { at: '2026-12-06T19:59:59Z', unit: 'demo-app.service', priority: 3, message: 'disk\nalmost full' },
    ],
    services: new Map([['demo-app.service', { state: 'active', sub: 'running', restarts: 0 }]]),
    cursors: new Map(),
  }]));
  const requests: StandInGateway['requests'] = [];
  const accepted: CommandEnvelope[] = [];
  const endpoint = options.psk === undefined
    ? await Endpoint.udp({ host: '127.0.0.1', port: 0 })
    : await createDtlsEndpoint({ role: 'server', mode: 'psk', pskLookup: (identity) => options.psk!.get(identity), host: '127.0.0.1', port: 0 });

  const json = (value: unknown, code: number = ResponseCode.Content): ResponseInit => ({ code, payload: JSON.stringify(value), contentFormat: ContentFormat.Json });
  const modelOf = (request: CoapRequest): { id: string; model: NodeModel } => {
    requests.push({ method: request.method, path: `/${request.path.join('/')}`, query: request.query });
    const id = request.params.id!;
    const model = models.get(id);
    if (model === undefined) throw new ResponseError(ResponseCode.NotFound, 'no node', { diagnostic: `no node ${id}` });
    return { id, model };
  };
  /** The agent's check of a signed command: the agent that answers is the misrouted one. */
  const command = (request: CoapRequest, takes: (action: string) => boolean): CommandEnvelope => {
    const agentId = options.misroute?.[request.params.id!] ?? request.params.id!;
    let input: unknown;
    try {
      input = JSON.parse(request.payload.toString('utf8'));
    } catch {
      throw new ResponseError(ResponseCode.BadRequest, 'not JSON', { diagnostic: 'the command is not JSON' });
    }
    const verdict = verifyCommand(input, { nodeId: agentId, trustedKeys, now: Date.now(), nonces });
    if (!verdict.ok) throw new ResponseError(REFUSAL_CODES[verdict.reason], verdict.detail, { diagnostic: `${verdict.reason}: ${verdict.detail}` });
    if (!takes(verdict.command.action)) throw new ResponseError(ResponseCode.BadRequest, 'wrong action', { diagnostic: `this resource does not take ${verdict.command.action}` });
    accepted.push(verdict.command);
    return verdict.command;
  };
  const result = (id: string, action: string, outcome: CommandResultView['outcome'], detail: string): ResponseInit =>
    json({ node_id: id, action, outcome, detail } satisfies CommandResultView, ResponseCode.Changed);

  endpoint.router.add(GatewayRoute.health, {
    handlers: {
      GET: (request) => {
        const { id } = modelOf(request);
        return json({
          node_id: id, online: true, last_seen: SAMPLE_AT, health_at: SAMPLE_AT,
          health: { status: 'healthy', cpu_percent: 12.5, memory_percent: 40, temperature: 51.2, uptime_s: 93_784, timestamp: SAMPLE_AT },
        } satisfies HealthView);
      },
    },
  });
  endpoint.router.add(GatewayRoute.metrics, {
    handlers: {
      GET: (request) => {
        const { id } = modelOf(request);
        const sample = {
          at: SAMPLE_AT, cpu_percent: 12.5, memory_total_bytes: 1024 ** 3, memory_available_bytes: 512 * 1024 ** 2, memory_percent: 50,
          load: [0.5, 0.25, 0.125] as const, temperature: null, uptime_s: 42, disks: [{ mount: '/', total_bytes: 8 * 1024 ** 3, free_bytes: 2 * 1024 ** 3, used_percent: 75 }],
          network: [{ iface: 'eth0', rx_bytes: 1536, tx_bytes: 2048 }],
        };
        // As the gateway's history: the samples after `since`, or its default window.
        const since = Date.parse(request.query.find((argument) => argument.startsWith('since='))?.slice(6) ?? '1970-01-01T00:00:00Z');
        const samples = [{ ...sample, at: '2026-12-06T19:59:50Z', cpu_percent: 99 }, sample].filter((kept) => Date.parse(kept.at) > since);
        return json({ node_id: id, interval_s: 10, samples } satisfies MetricsView);
      },
    },
  });
  endpoint.router.add(GatewayRoute.services, {
    handlers: {
      GET: (request) => {
        const { id, model } = modelOf(request);
        return json({
          node_id: id, services: [...model.services].map(([name, state]) => ({
            name, description: 'the demo app', active_state: state.state, sub_state: state.sub, since: SAMPLE_AT, restarts: state.restarts,
          })),
        } satisfies ServicesView);
      },
    },
  });
  endpoint.router.add(GatewayRoute.service, {
    handlers: {
      POST: (request) => {
        const { id, model } = modelOf(request);
        const name = request.params.name!;
        const service = model.services.get(name);
        const envelope = command(request, (action) => action.startsWith('service.'));
        if (envelope.args.name !== name) {
          throw new ResponseError(ResponseCode.BadRequest, 'wrong service', { diagnostic: `the command names ${String(envelope.args.name)}, not ${name}` });
        }
        if (service === undefined) throw new ResponseError(ResponseCode.Forbidden, 'not allowed', { diagnostic: `${name} is not in allowed_units` });
        if (envelope.action === 'service.stop') Object.assign(service, { state: 'inactive', sub: 'dead' });
        else Object.assign(service, { state: 'active', sub: 'running', restarts: service.restarts + (envelope.action === 'service.restart' ? 1 : 0) });
        return result(id, envelope.action, 'done', `${name} ${service.state}`);
      },
    },
  });
  endpoint.router.add(GatewayRoute.logs, {
    observable: options.observableLogs ?? true,
    handlers: {
      GET: (request) => {
        const { id, model } = modelOf(request);
        const lines = Number(request.query.find((argument) => argument.startsWith('lines='))?.slice(6) ?? 100);
        const token = request.token.toString('hex');
        const cursor = model.cursors.get(token);
        const observing = request.options.some((option) => option.number === OptionNumber.Observe);
        let entries: LogEntry[];
        if (cursor === undefined) entries = model.logs.slice(-lines);
        else entries = model.logs.slice(options.overlappingNotifications === true ? Math.max(0, cursor - 1) : cursor);
        if (observing) model.cursors.set(token, model.logs.length);
        return json({ node_id: id, entries, truncated: cursor === undefined && model.logs.length > lines });
      },
    },
  });
  endpoint.router.add(GatewayRoute.nodeConfig, {
    handlers: {
      GET: (request) => {
        const { id, model } = modelOf(request);
        return json({ node_id: id, settings: model.config, live: ['log_level', 'allowed_units'] } satisfies NodeConfigView);
      },
      PUT: (request) => {
        const { id, model } = modelOf(request);
        const envelope = command(request, (taken) => taken === 'config.set');
        const unknown = Object.keys(envelope.args).find((key) => !Object.hasOwn(model.config, key));
        if (unknown !== undefined) throw new ResponseError(ResponseCode.BadRequest, 'unknown', { diagnostic: `${unknown}: not a setting` });
        Object.assign(model.config, envelope.args);
        return result(id, 'config.set', 'done', `set ${Object.keys(envelope.args).join(', ')}`);
      },
    },
  });
  for (const [route, action] of [[GatewayRoute.nodeRestart, 'restart'], [GatewayRoute.nodeShutdown, 'shutdown']] as const) {
    endpoint.router.add(route, {
      handlers: {
        POST: (request) => {
          const { id } = modelOf(request);
          command(request, (taken) => taken === action);
          return result(id, action, 'scheduled', `${action} in 1 s`);
        },
      },
    });
  }

  const { port } = endpoint.address();
  return {
    uri: `${options.psk === undefined ? 'coap' : 'coaps'}://127.0.0.1:${port}`,
    requests,
    accepted,
    appendLogs(nodeId, entries) {
      models.get(nodeId)!.logs.push(...entries);
      endpoint.notify(gatewayPath.logs(nodeId));
    },
    logObservers: (nodeId) => endpoint.observers(gatewayPath.logs(nodeId)),
    close: () => endpoint.close(),
  };
}
