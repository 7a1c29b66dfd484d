// `coap-fleet node ID …`: one node through the gateway (src/operator's node-reads,
// node-logs, node-commands and node-tags): its health, metrics, services, logs (followed
// with --follow), settings, its tags added or removed; a service's start/stop/restart, a
// settings change, a reboot or a shutdown, each signed for the operator with the command
// key. Tables for people, --json for scripts.

import { parseInstant } from '../fleet/instant.js';
import { COMMAND_KEY_ENV, COMMAND_KEY_FILE, locateCommandKey } from '../operator/command-key.js';
import { SigningKeyError } from '../operator/errors.js';
import { openGateway, type GatewayClient } from '../operator/gateway-client.js';
import { changeNodeTags, checkTag } from '../operator/node-tags.js';
import { followNodeLogs, readNodeLogs, type LogFilters } from '../operator/node-logs.js';
import { rebootNode, serviceCommand, SERVICE_ACTIONS, setNodeConfig, shutdownNode, type ServiceAction } from '../operator/node-commands.js';
import { checkNodeId, readNode, readNodeConfig, readNodeHealth, readNodeMetrics, readNodeServices } from '../operator/node-reads.js';
import { formatFlags, parseArgs, parseNumber, spanSeconds, type FlagValues } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import {
  commandResultLine, configTable, healthTable, logLine, logsTable, metricsTable, nodeTable, PRIORITY_NAMES, servicesTable,
} from './node-tables.js';
import type { CliIo } from './output.js';

const FLAGS = {
  json: { type: 'boolean', description: 'print the JSON the node\'s resource gives (--follow: one entry per line)' },
  follow: { type: 'boolean', description: 'logs: keep printing new entries until Ctrl-C (Observe)' },
  unit: { type: 'string', value: 'UNIT', description: 'logs: only this unit (or log file name)' },
  since: { type: 'string', value: 'TIME', description: 'logs, metrics (a line per sample): from this time: RFC 3339, or 30s, 10m, 2h, 1d ago' },
  priority: { type: 'string', value: 'P', description: 'logs: this priority and more urgent: 0-7 or emerg..debug' },
  lines: { type: 'string', value: 'N', description: 'logs: at most the last N entries' },
  'command-key': { type: 'string', value: 'FILE', description: `signed commands: the operator's key (default $${COMMAND_KEY_ENV}, else ${COMMAND_KEY_FILE} beside --credentials)` },
  yes: { type: 'boolean', short: 'y', description: 'reboot, shutdown: do not ask' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

type NodeFlags = FlagValues<typeof FLAGS>;

export const nodeUsage = (): string => 'Usage: coap-fleet node ID [show]|health|metrics|services [--json]\n'
  + '       coap-fleet node ID logs [--follow] [--unit U] [--since T] [--priority P] [--lines N] [--json]\n'
  + '       coap-fleet node ID config [get] [--json]\n'
  + '       coap-fleet node ID service NAME start|stop|restart [--command-key FILE] [--json]\n'
  + '       coap-fleet node ID config set KEY=VALUE... [--command-key FILE] [--json]\n'
  + '       coap-fleet node ID reboot|shutdown [--yes] [--command-key FILE] [--json]\n'
  + '       coap-fleet node ID tag add|remove TAG... [--json]\n'
  + '  (each with [--gateway URI] [--credentials FILE])\n\n'
  + 'show (the default): the node as the gateway keeps it: registration, presence, health and\n'
  + 'link quality (the block size, window, RTT and loss of its latest download, and the\n'
  + 'gateway\'s own RTT to it).\n\n'
  + 'Reads a node through the gateway, which forwards to the node\'s agent. Service actions,\n'
  + 'config set, reboot and shutdown are signed here with the operator\'s command key,\n'
  + `${COMMAND_KEY_FILE} of keys generate (--command-key FILE, else $${COMMAND_KEY_ENV},\n`
  + 'else the one beside the --credentials file), valid for 5 minutes and once: the agent\n'
  + 'refuses anything else, and says why.\n'
  + 'reboot and shutdown ask first, unless --yes; without a terminal they need --yes.\n\n'
  + 'config set: each VALUE takes the type the node shows for KEY (config get): a number,\n'
  + 'true/false, a comma-separated list (empty for none, e.g. allowed_units=a.service,b.service)\n'
  + 'or text; for a key the node does not show, numbers and true/false are typed, the rest text.\n\n'
  + 'Exit status: 0 done; 1 the gateway or the node said no (4.xx, 5.xx: 5.04 when the node\n'
  + 'is out of reach), or a confirmation declined; 2 usage (also: no command key); 3 the\n'
  + 'gateway is unreachable.\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

/** What a verb may be given besides --json and the gateway's flags. */
const VERB_FLAGS: Readonly<Record<string, readonly (keyof NodeFlags)[]>> = {
  show: [], health: [], metrics: ['since'], services: [], config: ['command-key'],
  logs: ['follow', 'unit', 'since', 'priority', 'lines'],
  service: ['command-key'], reboot: ['command-key', 'yes'], shutdown: ['command-key', 'yes'], tag: [],
};
const VERB_SPECIFIC: readonly (keyof NodeFlags)[] = ['follow', 'unit', 'since', 'priority', 'lines', 'command-key', 'yes'];

export async function runNodeCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(nodeUsage());
    return 0;
  }
  const [nodeId, verb = 'show', ...rest] = positionals;
  if (nodeId === undefined || !Object.hasOwn(VERB_FLAGS, verb)) {
    throw new UsageError(`expected: node ID [show]|health|metrics|services|logs|service|config|tag|reboot|shutdown${nodeId === undefined ? '' : `, not ${JSON.stringify(verb)}`}`);
  }
  checkNodeId(nodeId);
  const misplaced = VERB_SPECIFIC.find((name) => flags[name] !== undefined && !VERB_FLAGS[verb]!.includes(name));
  if (misplaced !== undefined) throw new UsageError(`--${misplaced} does not go with ${verb}`);
  const run = await plan(nodeId, verb, rest, flags, io);
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    return await run(gateway);
  } finally {
    await gateway.close();
  }
}

type Run = (gateway: GatewayClient) => Promise<number>;

/** The verb's arguments checked, the command key found and the confirmation asked before
 * anything is sent: what to run once the gateway is open. */
async function plan(nodeId: string, verb: string, rest: readonly string[], flags: NodeFlags, io: CliIo): Promise<Run> {
  const json = flags.json === true;
  const print = <T>(value: T, table: (value: T) => string): number => {
    io.stdout.write(json ? `${JSON.stringify(value)}\n` : table(value));
    return 0;
  };
  const none = (): void => {
    if (rest.length > 0) throw new UsageError(`${verb} takes no argument, not ${JSON.stringify(rest[0])}`);
  };
  switch (verb) {
    case 'show':
      none();
      return async (gateway) => print(await readNode(gateway, nodeId), nodeTable);
    case 'health':
      none();
      return async (gateway) => print(await readNodeHealth(gateway, nodeId), healthTable);
    case 'metrics': {
      none();
      const since = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
      return async (gateway) => print(await readNodeMetrics(gateway, nodeId, since), (view) => metricsTable(view, since !== undefined));
    }
    case 'services':
      none();
      return async (gateway) => print(await readNodeServices(gateway, nodeId), servicesTable);
    case 'logs': {
      none();
      const filters = logFilters(flags);
      if (flags.follow === true) return (gateway) => followLogs(gateway, nodeId, filters, json, io);
      return async (gateway) => {
        const view = await readNodeLogs(gateway, nodeId, filters);
        if (view.truncated && !json) io.stderr.write('coap-fleet: more entries matched than the node sends at once: narrow with --since, --lines or --priority\n');
        return print(view, (logs) => logsTable(logs.entries));
      };
    }
    case 'config': {
      const [sub, ...assignments] = rest;
      if (sub === undefined || sub === 'get') {
        if (assignments.length > 0 || flags['command-key'] !== undefined) throw new UsageError('config get takes no argument nor --command-key');
        return async (gateway) => print(await readNodeConfig(gateway, nodeId), configTable);
      }
      if (sub !== 'set' || assignments.length === 0) throw new UsageError('expected: config [get] or config set KEY=VALUE...');
      const pairs = assignments.map(assignment);
      const keyPath = await commandKeyPath(flags);
      return async (gateway) => print(await setNodeConfig(gateway, nodeId, pairs, { keyPath }), commandResultLine);
    }
    case 'service': {
      const [name, action, ...extra] = rest;
      if (name === undefined || action === undefined || extra.length > 0 || !(SERVICE_ACTIONS as readonly string[]).includes(action)) {
        throw new UsageError(`expected: service NAME ${SERVICE_ACTIONS.join('|')}`);
      }
      const keyPath = await commandKeyPath(flags);
      return async (gateway) => print(await serviceCommand(gateway, nodeId, name, action as ServiceAction, { keyPath }), commandResultLine);
    }
    case 'tag': {
      const [change, ...tags] = rest;
      if ((change !== 'add' && change !== 'remove') || tags.length === 0) throw new UsageError('expected: tag add|remove TAG...');
      tags.forEach(checkTag);
      return async (gateway) => {
        const after = await changeNodeTags(gateway, nodeId, change === 'add' ? tags : [], change === 'remove' ? tags : []);
        return print({ node_id: nodeId, tags: after }, (view) => `${view.node_id}: tags ${view.tags.length === 0 ? '(none)' : view.tags.join(', ')}\n`);
      };
    }
    default: {
      // reboot or shutdown
      none();
      const keyPath = await commandKeyPath(flags);
      if (flags.yes !== true && !await confirm(io, `${verb === 'reboot' ? 'Reboot' : 'Shut down'} ${nodeId}?`, verb)) {
        io.stderr.write(`coap-fleet: ${nodeId} left running\n`);
        return async () => 1;
      }
      const send = verb === 'reboot' ? rebootNode : shutdownNode;
      return async (gateway) => print(await send(gateway, nodeId, { keyPath }), commandResultLine);
    }
  }
}

/** Prints entries as they come until Ctrl-C (0), or until the gateway ends the observation
 * (1: the node's logs are no longer followed). */
async function followLogs(gateway: GatewayClient, nodeId: string, filters: LogFilters, json: boolean, io: CliIo): Promise<number> {
  const controller = new AbortController();
  void io.shutdown().then(() => controller.abort());
  let unitWidth = 4;
  for await (const entry of followNodeLogs(gateway, nodeId, filters, controller.signal)) {
    unitWidth = Math.max(unitWidth, entry.unit?.length ?? 1);
    io.stdout.write(json ? `${JSON.stringify(entry)}\n` : logLine(entry, unitWidth));
  }
  if (controller.signal.aborted) return 0;
  io.stderr.write(`coap-fleet: the gateway ended the observation of ${nodeId}'s logs\n`);
  return 1;
}

async function commandKeyPath(flags: NodeFlags): Promise<string> {
  try {
    return await locateCommandKey({ given: flags['command-key'], environment: process.env[COMMAND_KEY_ENV], credentials: flags.credentials ?? flags.cert });
  } catch (error) {
    if (!(error instanceof SigningKeyError)) throw error;
    throw new UsageError(`a signed command needs the operator's command key: give --command-key FILE, set ${COMMAND_KEY_ENV}, `
      + `or keep ${COMMAND_KEY_FILE} (from keys generate) beside the --credentials (or --cert) file`, { cause: error });
  }
}

/** Asks on the terminal; without one (a script, a pipe) refuses: scripts say --yes. */
async function confirm(io: CliIo, question: string, verb: string): Promise<boolean> {
  const stdin = io.stdin as AsyncIterable<Buffer | string> & { readonly isTTY?: boolean };
  if (stdin.isTTY !== true) throw new UsageError(`${verb} asks for confirmation on a terminal; without one, give --yes`);
  io.stderr.write(`${question} [y/N] `);
  for await (const chunk of stdin) return /^\s*y(es)?\s*$/i.test(String(chunk));
  return false;
}

function logFilters(flags: NodeFlags): LogFilters {
  return {
    unit: flags.unit,
    since: flags.since === undefined ? undefined : parseSince(flags.since, Date.now()),
    priority: flags.priority === undefined ? undefined : parsePriority(flags.priority),
    lines: flags.lines === undefined ? undefined : parseNumber(flags.lines, 'lines', { min: 1, max: 1_000_000, integer: true }),
  };
}

// ---- pure ---------------------------------------------------------------------------

/** --since as RFC 3339 UTC (whole seconds): a date-time with a zone (or epoch
 * milliseconds), or a span ago (30s, 10m, 2h, 1d) from `now`. */
export function parseSince(text: string, now: number): string {
  const ago = spanSeconds(text);
  const ms = ago !== undefined ? now - ago * 1000 : parseInstant(text) ?? Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) throw new UsageError(`--since must be an RFC 3339 time (2026-12-06T20:00:00Z) or a span ago (30s, 10m, 2h, 1d), not ${JSON.stringify(text)}`);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** --priority as syslog's number: 0-7 or its name (err, warning, info…). */
export function parsePriority(text: string): number {
  const named = (PRIORITY_NAMES as readonly string[]).indexOf(text.toLowerCase());
  if (named !== -1) return named;
  if (/^[0-7]$/.test(text)) return Number(text);
  throw new UsageError(`--priority must be 0-7 or one of ${PRIORITY_NAMES.join(', ')}, not ${JSON.stringify(text)}`);
}

/** KEY=VALUE, split at the first "=". */
function assignment(text: string): [string, string] {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new UsageError(`config set takes KEY=VALUE, not ${JSON.stringify(text)}`);
  return [text.slice(0, equals), text.slice(equals + 1)];
}
