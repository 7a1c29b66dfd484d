// A real agent for the signed-command tests: configured from a file (so its settings can be
// changed remotely; the environment and flags outrank a remote change), a fake gateway, an
// operator key pair it pins, a calendar clock the test sets, and a CoAP client on UDP
// loopback that sends envelopes to the agent's own endpoint as the gateway would.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from '../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { newCommandNonce, signCommand, type CommandAction, type CommandArgs, type CommandEnvelope } from '../../../src/fleet/command-envelope.js';
import { encodeCbor } from '../../../src/fleet/cbor.js';
import { createDaemonLogger, type DaemonLogger } from '../../../src/fleet/logger.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { Method } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { FakeGateway, makePublisher, tempDir, type Publisher } from './fake-gateway.js';

export const NOW = Date.parse('2026-12-06T20:00:00Z');

export interface StartedAgent {
  readonly agent: Agent;
  readonly log: DaemonLogger;
  readonly logs: Record<string, unknown>[];
}

export class CommandWorld {
  readonly dir: string;
  readonly dataDir: string;
  readonly gateway: FakeGateway;
  readonly publisher: Publisher;
  readonly operatorKey: KeyObject;
  readonly operatorKeyPath: string;
  readonly client: Endpoint;
  /** The agents' calendar time, ms since the epoch. */
  now = NOW;
  readonly #remove: () => Promise<void>;
  readonly #agents: Agent[] = [];

  private constructor(fields: Omit<CommandWorld, 'now' | 'start' | 'send' | 'sign' | 'close'> & { remove: () => Promise<void> }) {
    this.dir = fields.dir;
    this.dataDir = fields.dataDir;
    this.gateway = fields.gateway;
    this.publisher = fields.publisher;
    this.operatorKey = fields.operatorKey;
    this.operatorKeyPath = fields.operatorKeyPath;
    this.client = fields.client;
    this.#remove = fields.remove;
  }

  static async create(): Promise<CommandWorld> {
    const temp = await tempDir('coap-fleet-agent-commands-');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const operatorKeyPath = join(temp.path, 'operator-command.pub');
    await writeFile(operatorKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
    return new CommandWorld({
      dir: temp.path, dataDir: join(temp.path, 'data'), gateway: await FakeGateway.start(), publisher: await makePublisher(temp.path),
      operatorKey: privateKey, operatorKeyPath, client: await Endpoint.udp({ host: '127.0.0.1' }), remove: temp.remove,
    });
  }

  /** Starts an agent from a config file holding these settings over the defaults, and
   * `env` as its environment. */
  async start(settings: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<StartedAgent> {
    const file = join(this.dir, 'agent.json');
    await writeFile(file, JSON.stringify({
      node_id: 'n1', gateway: this.gateway.uri, data_dir: this.dataDir, publisher_key: this.publisher.publicKeyPath, initial_version: '1.0.0',
      listen_host: '127.0.0.1', health_interval_s: 300, log_level: 'info', operator_keys: [this.operatorKeyPath],
      restart_command: `echo restart > ${join(this.dir, 'marker')}`, shutdown_command: `echo shutdown > ${join(this.dir, 'marker')}`,
      ...settings,
    }));
    const config = loadAgentConfig({ file, env });
    const logs: Record<string, unknown>[] = [];
    const log = createDaemonLogger({
      level: config.logLevel, pretty: false, base: { node_id: config.nodeId },
      stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } },
    });
    const agent = await Agent.start(config, log, { now: () => this.now });
    this.#agents.push(agent);
    return { agent, log, logs };
  }

  /** A request to the agent's endpoint with `body` as JSON (or CBOR), or raw bytes. */
  send(agent: Agent, method: keyof typeof Method, path: string, body: unknown, format: 'json' | 'cbor' = 'json'): Promise<CoapResponse> {
    const payload = Buffer.isBuffer(body) ? body : format === 'json' ? Buffer.from(JSON.stringify(body)) : encodeCbor(body);
    return this.client.request({
      method: Method[method], uri: `coap://127.0.0.1:${agent.address().port}${path}`, payload,
      contentFormat: format === 'json' ? ContentFormat.Json : ContentFormat.Cbor,
    });
  }

  /** An envelope for n1 valid for five minutes from `now`, signed with the pinned key,
   * unless `change` says otherwise. */
  sign(action: CommandAction, args: CommandArgs = {}, change: { nodeId?: string; notAfter?: number; key?: KeyObject } = {}): CommandEnvelope {
    const notAfter = new Date(change.notAfter ?? this.now + 300_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return signCommand({ node_id: change.nodeId ?? 'n1', action, args, not_after: notAfter, nonce: newCommandNonce() }, change.key ?? this.operatorKey);
  }

  async close(): Promise<void> {
    for (const agent of this.#agents) await agent.stop();
    await this.client.close();
    await this.gateway.close();
    await this.#remove();
  }
}

/** The diagnostic payload of a refusal. */
export const diagnostic = (response: CoapResponse): string => response.payload.toString('utf8');
