// `coap-fleet plugtest`: flags in, the ETSI plugtest server of src/testing run until SIGINT
// or SIGTERM, its addresses out on stderr.

import { formatPeer } from '../protocol/interfaces.js';
import { startPlugtestServer } from '../testing/plugtest.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import { DTLS_FLAGS, dtlsServerCredentials, hasDtlsFlags } from './dtls-flags.js';
import { streamLogger, type CliIo } from './output.js';

const PLUGTEST_FLAGS = {
  host: { type: 'string', value: 'HOST', description: 'address to bind (default 127.0.0.1)' },
  port: { type: 'string', value: 'PORT', description: 'UDP port (default 5683; 0 for an ephemeral one)' },
  'dtls-port': { type: 'string', value: 'PORT', description: 'serve coaps:// (DTLS) on this UDP port too (0 for an ephemeral one)' },
  coaps: { type: 'boolean', description: 'serve coaps:// only (on --dtls-port, default 5684)' },
  ...DTLS_FLAGS,
  verbose: { type: 'boolean', short: 'v', description: 'log every request' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const plugtestUsage = (): string => 'Usage: coap-fleet plugtest [--host HOST] [--port PORT] [--dtls-port PORT | --coaps] [DTLS options]\n\n'
  + 'Serves the ETSI CoAP plugtest resources (/test, /separate, /obs, /large, ...) until\n'
  + 'SIGINT or SIGTERM. The bound addresses are printed on stderr. With --dtls-port or\n'
  + '--coaps it serves coaps:// (DTLS 1.2) with one PSK (--psk-identity, --psk-key or\n'
  + '--psk-key-hex) or its certificate (--cert, --key) and the CA of the client certificates\n'
  + 'it requires (--ca).\n\n'
  + `Options:\n${formatFlags(PLUGTEST_FLAGS)}`;

export async function runPlugtestCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, PLUGTEST_FLAGS);
  if (flags.help === true) {
    io.stdout.write(plugtestUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const port = flags.port === undefined ? undefined : parseNumber(flags.port, 'port', { min: 0, max: 0xffff, integer: true });
  const dtlsPort = flags['dtls-port'] === undefined ? undefined : parseNumber(flags['dtls-port'], 'dtls-port', { min: 0, max: 0xffff, integer: true });
  const servesDtls = flags.coaps === true || dtlsPort !== undefined;
  if (flags.coaps === true && port !== undefined) throw new UsageError('--coaps serves DTLS only: give --dtls-port, not --port');
  if (!servesDtls && hasDtlsFlags(flags)) throw new UsageError('the DTLS options need --dtls-port PORT or --coaps');
  const dtls = servesDtls ? { credentials: await dtlsServerCredentials(flags), ...(dtlsPort === undefined ? {} : { port: dtlsPort }) } : undefined;
  const server = await startPlugtestServer({
    logger: streamLogger(io.stderr, flags.verbose === true),
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(port === undefined ? {} : { port }),
    ...(dtls === undefined ? {} : { dtls }),
    ...(flags.coaps === true ? { plain: false } : {}),
  });
  if (flags.coaps !== true) io.stderr.write(`plugtest server listening on coap://${formatPeer(server.endpoint.address())}\n`);
  if (server.dtlsEndpoint !== undefined) io.stderr.write(`plugtest server listening on coaps://${formatPeer(server.dtlsEndpoint.address())}\n`);
  const signal = await io.shutdown();
  await server.close();
  io.stderr.write(`plugtest server stopped by ${signal}\n`);
  return 0;
}
