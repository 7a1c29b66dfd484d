// `coap-fleet fault-proxy`: flags in, the fault-injecting proxy of src/testing run until
// SIGINT or SIGTERM, its counts out on stderr.

import { formatPeer } from '../protocol/interfaces.js';
import type { FaultOptions } from '../protocol/transport-faulty.js';
import { startFaultProxy } from '../testing/fault-proxy.js';
import { formatFlags, parseArgs, parseHostPort, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import { streamLogger, type CliIo } from './output.js';

export const FAULT_PROXY_FLAGS = {
  listen: { type: 'string', value: 'HOST:PORT', description: 'where clients send (port 0 for an ephemeral one)' },
  target: { type: 'string', value: 'HOST:PORT', description: 'where datagrams are forwarded' },
  loss: { type: 'string', value: 'P', description: 'probability 0..1 that a datagram is dropped' },
  duplication: { type: 'string', value: 'P', description: 'probability 0..1 that a datagram is sent twice' },
  reorder: { type: 'string', value: 'P', description: 'probability 0..1 that a datagram is held back' },
  delay: { type: 'string', value: 'MS', description: 'base delay of every datagram' },
  jitter: { type: 'string', value: 'MS', description: 'uniform extra delay 0..MS' },
  seed: { type: 'string', value: 'N', description: 'seed of the fault decisions (default: random, printed)' },
  verbose: { type: 'boolean', short: 'v', description: 'log client mappings as they open and close' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const FAULT_PROXY_USAGE = 'Usage: coap-fleet fault-proxy --listen HOST:PORT --target HOST:PORT [options]\n\n'
  + 'Forwards UDP datagrams both ways through loss, duplication, reordering and delay,\n'
  + 'until SIGINT or SIGTERM; then prints the counts per direction on stderr.\n\n'
  + `Options:\n${formatFlags(FAULT_PROXY_FLAGS)}`;

const MAX_DELAY_MS = 60_000;

export async function runFaultProxyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FAULT_PROXY_FLAGS);
  if (flags.help === true) {
    io.stdout.write(FAULT_PROXY_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (flags.listen === undefined || flags.target === undefined) throw new UsageError('--listen and --target are required');
  const probability = (name: 'loss' | 'duplication' | 'reorder'): number | undefined =>
    flags[name] === undefined ? undefined : parseNumber(flags[name], name, { min: 0, max: 1 });
  const milliseconds = (name: 'delay' | 'jitter'): number | undefined =>
    flags[name] === undefined ? undefined : parseNumber(flags[name], name, { min: 0, max: MAX_DELAY_MS });
  const faults: FaultOptions = {
    loss: probability('loss'), duplication: probability('duplication'), reorder: probability('reorder'),
    delayMs: milliseconds('delay'), jitterMs: milliseconds('jitter'),
  };
  const seed = flags.seed === undefined ? Math.floor(Math.random() * 2 ** 31)
    : parseNumber(flags.seed, 'seed', { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const listen = parseHostPort(flags.listen, 'listen');
  const target = parseHostPort(flags.target, 'target');

  const logger = streamLogger(io.stderr, flags.verbose === true);
  const proxy = await startFaultProxy({ listen, target, faults, seed, logger });
  const described = Object.entries(faults).filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`);
  io.stderr.write(`fault proxy listening on ${formatPeer(proxy.address())}, forwarding to ${formatPeer({ address: target.host, port: target.port })}`
    + ` (seed ${seed}${described.length === 0 ? '' : `, ${described.join(' ')}`})\n`);
  const signal = await io.shutdown();
  const stats = proxy.stats();
  await proxy.close();
  io.stderr.write(`fault proxy stopped by ${signal}: ${JSON.stringify(stats)}\n`);
  return 0;
}
