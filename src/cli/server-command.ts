// `coap-fleet server`: the gateway daemon from the command line. Config from a file, the
// environment and flags (src/server/config.ts); a bad one is exit status 2 with one line.
// Runs until SIGINT or SIGTERM, then stops gracefully and exits 0.

import { rename, rm, writeFile } from 'node:fs/promises';
import { CONFIG_KEYS, envName, flagName, loadConfig, type GatewayConfig } from '../server/config.js';
import { ConfigError } from '../server/errors.js';
import { Gateway } from '../server/gateway.js';
import { createDaemonLogger, type DaemonLogger as ServerLogger } from '../fleet/logger.js';
import { formatFlags, parseArgs, UsageError, type FlagSpecs } from './args.js';
import type { CliIo } from './output.js';

const SERVER_FLAGS = {
  config: { type: 'string', value: 'FILE', description: 'JSON config file (also COAP_FLEET_CONFIG)' },
  'data-dir': { type: 'string', value: 'DIR', description: 'state (LMDB) and firmware images; required' },
  host: { type: 'string', value: 'HOST', description: 'plain CoAP address (default 127.0.0.1)' },
  port: { type: 'string', value: 'PORT', description: 'plain CoAP port (default 5683; 0 ephemeral; off)' },
  'dtls-host': { type: 'string', value: 'HOST', description: 'CoAP over DTLS address (default: --host)' },
  'dtls-port': { type: 'string', value: 'PORT', description: 'CoAP over DTLS port (default off)' },
  'psk-file': { type: 'string', value: 'FILE', description: 'DTLS pre-shared keys' },
  'cert-file': { type: 'string', value: 'FILE', description: 'DTLS certificate chain (PEM)' },
  'key-file': { type: 'string', value: 'FILE', description: 'DTLS private key (PEM)' },
  'ca-file': { type: 'string', value: 'FILE', description: 'CA that signs peer certificates (PEM)' },
  'publisher-key-file': { type: 'string', value: 'FILE', description: 'Ed25519 public key: refuse manifests it did not sign' },
  'log-level': { type: 'string', value: 'LEVEL', description: 'fatal, error, warn, info (default), debug, trace, silent' },
  pretty: { type: 'boolean', description: 'readable log lines instead of JSON' },
  'ready-file': { type: 'string', value: 'FILE', description: 'write {"coap_port","coaps_port"} here once listening' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const satisfies FlagSpecs;

export const serverUsage = (): string => 'Usage: coap-fleet server --data-dir DIR [options]\n\n'
  + 'Runs the gateway: /updates, /nodes and their sub-resources over CoAP (JSON or CBOR),\n'
  + 'state in LMDB and images under DIR, until SIGINT or SIGTERM (then a graceful stop, exit 0).\n'
  + 'Logs are JSON lines on stdout. Plain CoAP from loopback has operator rights unless\n'
  + 'allow_local_plain is false.\n\n'
  + `Options:\n${formatFlags(SERVER_FLAGS)}\n`
  + 'Every setting can also come from the config file (JSON, the names below) or the\n'
  + 'environment; flags win over the environment, which wins over the file:\n'
  + `${CONFIG_KEYS.map((key) => `  ${key.padEnd(24)} ${envName(key)}`).join('\n')}\n\n`
  + 'Exit status: 0 stopped by a signal, 2 bad usage or configuration, 3 a port that would\n'
  + 'not bind or a state store that would not open, 4 a state store that failed its check\n'
  + '(DIR/state/data.mdb truncated or overwritten: restore it, or move it away).\n';

export async function runServerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, SERVER_FLAGS);
  if (flags.help === true) {
    io.stdout.write(serverUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const configFlags: Partial<Record<keyof GatewayConfig, string | boolean>> = {};
  for (const key of CONFIG_KEYS) {
    const value = (flags as Record<string, string | boolean | undefined>)[flagName(key)];
    if (value !== undefined) configFlags[key] = value;
  }
  // Signals are ours from here on, so one during start still ends in a graceful stop.
  const shutdown = io.shutdown();
  let config: GatewayConfig;
  let logger: ServerLogger;
  let gateway: Gateway;
  try {
    config = await loadConfig({ flags: configFlags, file: flags.config, env: process.env, cwd: process.cwd() });
    logger = createDaemonLogger({ level: config.log_level, pretty: config.pretty, stream: io.stdout });
    gateway = await Gateway.start({ config, logger });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`coap-fleet server: ${error.message}\n`);
    return 2;
  }
  const readyFile = config.ready_file;
  if (readyFile !== null) {
    const { coap, coaps } = gateway.addresses();
    const temporary = `${readyFile}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify({ coap_port: coap?.port ?? null, coaps_port: coaps?.port ?? null, pid: process.pid })}\n`);
    await rename(temporary, readyFile);
  }
  logger.info({ signal: await shutdown }, 'stopping');
  await gateway.stop();
  if (readyFile !== null) await rm(readyFile, { force: true });
  return 0;
}
