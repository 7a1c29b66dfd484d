// The destructive commands an operator sends one node through the gateway (DESIGN §6): a
// service's start, stop or restart, a change of settings, a reboot, a shutdown. Each is a
// CommandEnvelope signed here with the operator's command key (src/operator/sign-command.ts)
// and sent as the request's payload; the gateway forwards it untouched and the node's
// agent runs it only if the signature, node, lifetime and nonce hold. Its refusal (4.01,
// 4.03, 4.00 with the reason) comes back as a GatewayError carrying that reason.

import type { CommandArgs, CommandAction, JsonValue } from '../fleet/command-envelope.js';
import type { CommandResultView, NodeConfigView } from '../fleet/node-views.js';
import { gatewayPath } from '../fleet/paths.js';
import { Method } from '../protocol/codes.js';
import { CommandInputError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';
import { checkNodeId, readNodeConfig, viewOf } from './node-reads.js';
import { signCommandFor } from './sign-command.js';

export const SERVICE_ACTIONS = ['start', 'stop', 'restart'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

export interface CommandSigning {
  /** The operator's Ed25519 private key, PEM (operator-command.key; see locateCommandKey). */
  readonly keyPath: string;
  /** The envelope's lifetime in seconds (default 300). */
  readonly ttlSeconds?: number;
  /** Now, in milliseconds since the epoch (default the system clock). */
  readonly now?: number;
}

/** POST /nodes/{id}/services/{name}, signed `service.<action>` with args {name}. */
export function serviceCommand(gateway: GatewayClient, nodeId: string, name: string, action: ServiceAction, signing: CommandSigning): Promise<CommandResultView> {
  if (!(SERVICE_ACTIONS as readonly string[]).includes(action)) throw new CommandInputError(`${JSON.stringify(action)} is not a service action: one of ${SERVICE_ACTIONS.join(', ')}`);
  if (name === '') throw new CommandInputError('a service needs a name');
  return sendCommand(gateway, nodeId, gatewayPath.service(nodeId, name), Method.POST, `service.${action}`, { name }, signing);
}

/** POST /nodes/{id}/system/restart, signed `restart`: the agent answers, then reboots. */
export const rebootNode = (gateway: GatewayClient, nodeId: string, signing: CommandSigning): Promise<CommandResultView> =>
  sendCommand(gateway, nodeId, gatewayPath.nodeRestart(nodeId), Method.POST, 'restart', {}, signing);

/** POST /nodes/{id}/system/shutdown, signed `shutdown`: the agent answers, then powers off. */
export const shutdownNode = (gateway: GatewayClient, nodeId: string, signing: CommandSigning): Promise<CommandResultView> =>
  sendCommand(gateway, nodeId, gatewayPath.nodeShutdown(nodeId), Method.POST, 'shutdown', {}, signing);

/** PUT /nodes/{id}/system/config, signed `config.set` with the settings as args. Each
 * value is text as typed (KEY=VALUE), given the type the node shows for that key now (see
 * typedSettings), so the node is read first. */
export async function setNodeConfig(
  gateway: GatewayClient, nodeId: string, assignments: readonly (readonly [key: string, text: string])[], signing: CommandSigning,
): Promise<CommandResultView> {
  if (assignments.length === 0) throw new CommandInputError('no setting to change');
  const current = await readNodeConfig(gateway, nodeId);
  return sendCommand(gateway, nodeId, gatewayPath.nodeConfig(nodeId), Method.PUT, 'config.set', typedSettings(current.settings, assignments), signing);
}

async function sendCommand(
  gateway: GatewayClient, nodeId: string, path: string, method: number, action: CommandAction, args: CommandArgs, signing: CommandSigning,
): Promise<CommandResultView> {
  checkNodeId(nodeId);
  const envelope = await signCommandFor({
    nodeId, action, args, signingKeyPath: signing.keyPath,
    ...(signing.ttlSeconds === undefined ? {} : { ttlSeconds: signing.ttlSeconds }), ...(signing.now === undefined ? {} : { now: signing.now }),
  });
  const response = await gateway.send(method, path, envelope);
  return viewOf<CommandResultView>(response.payload, path, { node_id: 'string', action: 'string', outcome: 'string', detail: 'string' });
}

// ---- pure ---------------------------------------------------------------------------

type SettingValue = NodeConfigView['settings'][string];

/** The settings to send, each value's text read as the type the node shows for that key:
 * a number, a boolean (true/false), a list (comma-separated, empty for none), or text as
 * is. A key the node does not show yet is read as a number or boolean when it looks like
 * one, else as text (the agent refuses what it does not take, 4.00 with why). */
export function typedSettings(current: NodeConfigView['settings'], assignments: readonly (readonly [string, string])[]): Record<string, JsonValue> {
  const settings: Record<string, JsonValue> = {};
  for (const [key, text] of assignments) {
    if (key === '') throw new CommandInputError(`a setting needs a name: ${JSON.stringify(`${key}=${text}`)}`);
    if (Object.hasOwn(settings, key)) throw new CommandInputError(`${key} is given twice`);
    settings[key] = settingValue(key, text, Object.hasOwn(current, key) ? current[key] : undefined);
  }
  return settings;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([['true', true], ['false', false]]);

function settingValue(key: string, text: string, shown: SettingValue | undefined): JsonValue {
  if (Array.isArray(shown)) return text.trim() === '' ? [] : text.split(',').map((item) => item.trim());
  if (typeof shown === 'number') {
    if (!NUMBER.test(text.trim())) throw new CommandInputError(`${key} is a number, not ${JSON.stringify(text)}`);
    return Number(text);
  }
  if (typeof shown === 'boolean') {
    const value = BOOLEANS.get(text.trim());
    if (value === undefined) throw new CommandInputError(`${key} is true or false, not ${JSON.stringify(text)}`);
    return value;
  }
  if (typeof shown === 'string') return text;
  if (NUMBER.test(text.trim())) return Number(text);
  return BOOLEANS.get(text.trim()) ?? text;
}
