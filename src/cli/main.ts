// The `coap-fleet` program: the subcommand table, the usage text, and the one place where
// errors become exit statuses and one-line messages. bin/coap-fleet.js calls `main`.

import { codeClass } from '../protocol/codes.js';
import { BlockTransferError } from '../protocol/errors.js';
import { GatewayError } from '../operator/errors.js';
import { UsageError } from './errors.js';
import type { CliIo } from './output.js';
import { AUDIT_SYNOPSIS, DRY_RUN_FAILED_STATUS, NODE_SYNOPSIS, ROLLOUT_SYNOPSIS, SIMULATE_SYNOPSIS } from './synopses.js';

/** What the process exits with; documented in the usage text. */
export const ExitStatus = {
  Ok: 0,
  /** The peer answered 4.xx or 5.xx, also to one block of a block-wise transfer; or did
   * not take an Observe registration (answered it without Observe). */
  ErrorResponse: 1,
  Usage: 2,
  /** Timeout, RST, an unreachable or unresolvable host, a socket that would not bind. */
  Transport: 3,
  /** A daemon's state store failed its check at start (truncated, overwritten). */
  StoreDamaged: 4,
  /** A bug: an error without a code (sysexits EX_SOFTWARE). */
  Internal: 70,
} as const;

/** What a command's module gives main: its usage text and its run. */
interface CommandModule {
  readonly usage: () => string;
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

interface Command {
  readonly name: string;
  readonly synopsis: string;
  readonly summary: string;
  /** Imports the command's module when it runs or its help is asked for, never before:
   * a daemon then holds its own code only (the agent neither the operator's certificate
   * stack nor the gateway's), which is resident memory on a small device (issue 14). */
  readonly load: () => Promise<CommandModule>;
}

// ---- the table ----------------------------------------------------------------------

const requestCommand = (name: 'get' | 'put' | 'post' | 'delete'): Command => ({
  name,
  synopsis: 'get|put|post|delete URI [options]',
  summary: 'Send one request and print the response; bodies over one block go block-wise,\n'
    + '      streamed with get --out FILE and put/post --in FILE; --json for scripts;\n'
    + '      coaps:// with --psk-identity/--psk-key or --cert/--key/--ca.',
  load: async () => {
    const { requestUsage, runRequestCommand } = await import('./request-command.js');
    return { usage: () => requestUsage(name), run: (argv, io) => runRequestCommand(name, argv, io) };
  },
});

const COMMANDS: readonly Command[] = [
  {
    name: 'demo', synopsis: 'demo [--nodes N] [--size-mib MIB] [--keep]',
    summary: 'A gateway and N agents on loopback over DTLS: a signed A/B rollout, live.',
    load: async () => {
      const { demoUsage, runDemoCommand } = await import('./demo-command.js');
      return { usage: demoUsage, run: runDemoCommand };
    },
  },
  requestCommand('get'),
  requestCommand('put'),
  requestCommand('post'),
  requestCommand('delete'),
  {
    name: 'observe', synopsis: 'observe URI [--for SECONDS] [--json] [-v]',
    summary: 'Print a resource\'s notifications until Ctrl-C or --for, then deregister.',
    load: async () => {
      const { observeUsage, runObserveCommand } = await import('./observe-command.js');
      return { usage: observeUsage, run: runObserveCommand };
    },
  },
  {
    name: 'server', synopsis: 'server --data-dir DIR [--config FILE] [--port PORT] [--pretty] ...',
    summary: 'Run the gateway (updates, nodes, health) until SIGINT or SIGTERM.',
    load: async () => {
      const { serverUsage, runServerCommand } = await import('./server-command.js');
      return { usage: serverUsage, run: runServerCommand };
    },
  },
  {
    name: 'plugtest', synopsis: 'plugtest [--host HOST] [--port PORT] [--dtls-port PORT | --coaps] [DTLS options]',
    summary: 'Run the ETSI plugtest server until SIGINT or SIGTERM.',
    load: async () => {
      const { plugtestUsage, runPlugtestCommand } = await import('./plugtest-command.js');
      return { usage: plugtestUsage, run: runPlugtestCommand };
    },
  },
  {
    name: 'fault-proxy', synopsis: 'fault-proxy --listen HOST:PORT --target HOST:PORT [--loss P] ...',
    summary: 'Forward UDP both ways through loss, duplication, reordering and delay.',
    load: async () => {
      const { FAULT_PROXY_USAGE, runFaultProxyCommand } = await import('./fault-proxy-command.js');
      return { usage: () => FAULT_PROXY_USAGE, run: runFaultProxyCommand };
    },
  },
  {
    name: 'keys', synopsis: 'keys generate --out DIR [--nodes N] [--operator NAME] | keys ca init | keys issue | keys revoke | keys bootstrap',
    summary: 'Publisher signing keys and DTLS PSK credentials for a gateway, an operator and nodes;\n'
      + '      a fleet CA and certificates for nodes, operators and the gateway.',
    load: async () => {
      const { keysUsage, runKeysCommand } = await import('./keys-command.js');
      return { usage: keysUsage, run: runKeysCommand };
    },
  },
  {
    name: 'publish', synopsis: 'publish --image FILE --version V --targets a,b --signing-key FILE [--gateway URI]',
    summary: 'Sign an image\'s manifest, create the update and upload the image block-wise.',
    load: async () => {
      const { publishUsage, runPublishCommand } = await import('./publish-command.js');
      return { usage: publishUsage, run: runPublishCommand };
    },
  },
  {
    name: 'nodes', synopsis: 'nodes [--tag T] [--gateway URI] [--credentials FILE] [--json]',
    summary: 'The registered nodes: version, presence, health, tags.',
    load: async () => {
      const { nodesUsage, runNodesCommand } = await import('./nodes-command.js');
      return { usage: nodesUsage, run: runNodesCommand };
    },
  },
  {
    name: 'node', synopsis: NODE_SYNOPSIS,
    summary: 'One node through the gateway: health, metrics, services, logs (--follow), config;\n'
      + '      service start/stop/restart, config set, reboot, shutdown signed with the command key.',
    load: async () => {
      const { nodeUsage, runNodeCommand } = await import('./node-command.js');
      return { usage: nodeUsage, run: runNodeCommand };
    },
  },
  {
    name: 'alerts', synopsis: 'alerts [--all] [--watch] [--json] | alerts ack ID [--gateway URI] [--credentials FILE]',
    summary: 'The gateway\'s alerts (active, or --all), watched live with --watch; acknowledge one.',
    load: async () => {
      const { alertsUsage, runAlertsCommand } = await import('./alerts-command.js');
      return { usage: alertsUsage, run: runAlertsCommand };
    },
  },
  {
    name: 'audit', synopsis: AUDIT_SYNOPSIS,
    summary: 'The gateway\'s audit log, newest first: denials, rollouts, node changes.',
    load: async () => {
      const { auditUsage, runAuditCommand } = await import('./audit-command.js');
      return { usage: auditUsage, run: runAuditCommand };
    },
  },
  {
    name: 'rollout', synopsis: ROLLOUT_SYNOPSIS,
    summary: 'The rollouts: list, one with its waves, pause, resume, cancel, or watch one live until it ends.',
    load: async () => {
      const { rolloutUsage, runRolloutCommand } = await import('./rollout-command.js');
      return { usage: rolloutUsage, run: runRolloutCommand };
    },
  },
  {
    name: 'simulate', synopsis: SIMULATE_SYNOPSIS,
    summary: 'N virtual nodes on the agent\'s own code, each with its own DTLS session, against a gateway;\n'
      + '      prints their counters beside the gateway\'s view (registered, online, rollouts, errors).',
    load: async () => {
      const { simulateUsage, runSimulateCommand } = await import('./simulate-command.js');
      return { usage: simulateUsage, run: runSimulateCommand };
    },
  },
  {
    name: 'agent', synopsis: 'agent --config FILE [--pretty] [options]',
    summary: 'Run the node agent: register, report health, install signed updates (A/B).',
    load: async () => {
      const { agentUsage, runAgentCommand } = await import('./agent-command.js');
      return { usage: agentUsage, run: runAgentCommand };
    },
  },
];

export function usage(): string {
  const entries = new Map<string, string>(COMMANDS.map((command) => [command.synopsis, command.summary]));
  entries.set('help [COMMAND]', 'This text, or one command\'s options (also: COMMAND --help).');
  const lines = [...entries].map(([synopsis, summary]) => `  coap-fleet ${synopsis}\n      ${summary}\n`);
  return 'coap-fleet: CoAP firmware updates and operations for device fleets\n\n'
    + `Usage:\n${lines.join('')}\n`
    + 'Exit status: 0 success (2.xx; observe and the servers: a stop by signal or --for),\n'
    + '             1 error response (4.xx, 5.xx) or an observation not taken, 2 usage\n'
    + '             error, 3 timeout or transport error, 4 a daemon\'s state store is\n'
    + `             damaged, 70 internal error; ${DRY_RUN_FAILED_STATUS} (publish --dry-run) a target or the\n`
    + '             update would fail.\n';
}

// ---- errors to exit statuses --------------------------------------------------------

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The caller's mistakes: usage, a URI, and what the operator's functions refuse in their
 * input (an image, a signing key, credentials, an id, keys that exist, a command). */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'CLI_ERR_USAGE', 'COAP_ERR_URI', 'OPERATOR_ERR_IMAGE', 'OPERATOR_ERR_SIGNING_KEY', 'OPERATOR_ERR_CREDENTIALS',
  'OPERATOR_ERR_INVALID_ID', 'OPERATOR_ERR_KEYS_EXIST', 'OPERATOR_ERR_COMMAND',
]);
/** The peer's no without an error code: an Observe registration it did not take. */
const REFUSAL_CODES: ReadonlySet<string> = new Set(['OPERATOR_ERR_NOT_OBSERVED']);

/** A peer's error response is 1; the caller's mistakes are 2; anything else with a stable
 * code comes from the network or the system (3). An error without a code, or one of
 * Node's own ERR_* argument errors, is a bug of ours (70). */
function exitStatusFor(error: unknown): number {
  // A block-wise transfer or a gateway request that the peer ended with 4.xx or 5.xx is an
  // error response.
  const responseCode = (error instanceof BlockTransferError || error instanceof GatewayError) ? error.responseCode : undefined;
  if (responseCode !== undefined && (codeClass(responseCode) === 4 || codeClass(responseCode) === 5)) return ExitStatus.ErrorResponse;
  const code = errorCode(error);
  if (code !== undefined && USAGE_CODES.has(code)) return ExitStatus.Usage;
  if (code !== undefined && REFUSAL_CODES.has(code)) return ExitStatus.ErrorResponse;
  if (code === 'STORE_CORRUPT') return ExitStatus.StoreDamaged;
  return code === undefined || code.startsWith('ERR_') ? ExitStatus.Internal : ExitStatus.Transport;
}

/** One line on stderr: the stable code, the reason, and for a usage error where to look. */
function reportError(error: unknown, command: Command | undefined, io: CliIo): number {
  const status = exitStatusFor(error);
  const code = errorCode(error);
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
  const hint = status === ExitStatus.Usage ? ` (see coap-fleet ${command === undefined ? 'help' : `${command.name} --help`})` : '';
  io.stderr.write(`coap-fleet: ${code === undefined ? '' : `${code}: `}${message}${hint}\n`);
  if (status === ExitStatus.Internal && error instanceof Error && error.stack !== undefined) io.stderr.write(`${error.stack}\n`);
  return status;
}

// ---- the process's world ------------------------------------------------------------

/** Resolves on the first SIGINT or SIGTERM; the handlers go away afterwards, so a second
 * signal during a slow close kills the process the default way. */
function waitForShutdown(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export const processIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  // Lazily: touching process.stdin opens a handle on fd 0, which only `--file -` needs.
  get stdin() {
    return process.stdin;
  },
  shutdown: waitForShutdown,
};

/** Runs one command line; resolves with the exit status and never rejects. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = COMMANDS.find((candidate) => candidate.name === topic);
    if (topic !== undefined && command === undefined) return reportError(new UsageError(`no command ${JSON.stringify(topic)}`), undefined, io);
    try {
      io.stdout.write(command === undefined ? usage() : (await command.load()).usage());
      return ExitStatus.Ok;
    } catch (error) {
      return reportError(error, command, io);
    }
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) return reportError(new UsageError(`unknown command ${JSON.stringify(name)}`), undefined, io);
  try {
    return await (await command.load()).run(rest, io);
  } catch (error) {
    return reportError(error, command, io);
  }
}
