// `coap-fleet demo`: a gateway and N agents as separate processes on loopback over DTLS
// with freshly generated credentials; a signed image is published, the rollout shown live,
// and a summary printed once every node runs the new version (DESIGN §8, the README's
// first command). --keep leaves everything running until Ctrl-C and prints how to reach
// the nodes with `coap-fleet node` (their remote operations set up by demo-remote-ops.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openGateway, type GatewayClient } from '../operator/gateway-client.js';
import { writeRandomImage } from '../operator/image-file.js';
import { DASHBOARD_TOKENS_FILE, dashboardTokenFile } from '../fleet/dashboard-tokens.js';
import { generateKeys } from '../operator/keys.js';
import { demoCredentials } from './demo-credentials.js';
import { listNodes } from '../operator/nodes.js';
import { publishImage, readSigningKey } from '../operator/publish.js';
import { watchRollout } from '../operator/rollout-watch.js';
import type { StatusView } from '../fleet/views.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import {
  appendDemoLog, prepareDemoNode, remoteOperationsAgentSettings, type DemoNodeFiles,
} from './demo-remote-ops.js';
import { UsageError } from './errors.js';
import { nodesTable } from './nodes-command.js';
import type { CliIo } from './output.js';
import { publishProgress } from './publish-command.js';
import { nodeLine } from './rollout-command.js';

const FLAGS = {
  nodes: { type: 'string', value: 'N', description: 'agents to start (default 5)' },
  'size-mib': { type: 'string', value: 'MIB', description: 'image size (default 4)' },
  dir: { type: 'string', value: 'DIR', description: 'work directory (default a new one under the temp dir)' },
  certs: { type: 'boolean', description: 'DTLS with certificates from a fleet CA made for the demo, instead of PSKs' },
  keep: { type: 'boolean', description: 'leave the gateway and agents running until Ctrl-C, and say how to reach them' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const demoUsage = (): string => 'Usage: coap-fleet demo [--nodes N] [--size-mib MIB] [--certs] [--keep]\n\n'
  + 'Starts a gateway and N agents on loopback over DTLS (PSK, or --certs) with fresh keys, publishes a\n'
  + 'signed image and rolls it out A/B to every node, live; exits 0 when all run it.\n\n'
  + `Options:\n${formatFlags(FLAGS)}`;

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'coap-fleet.js');
const READY_TIMEOUT_MS = 30_000;
const ROLLOUT_TIMEOUT_MS = 300_000;

/** How often a kept demo node's app writes a log line, for `node ID logs --follow`. */
const KEPT_LOG_INTERVAL_MS = 10_000;

interface Daemon {
  readonly name: string;
  readonly args: readonly string[];
  readonly child: ChildProcess;
  readonly log: string;
}

/** `append` for a daemon started again: its log goes on. */
function startDaemon(name: string, args: readonly string[], log: string, append = false): Daemon {
  const out = createWriteStream(log, { flags: append ? 'a' : 'w' });
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  return { name, args, child, log };
}

async function stopDaemons(daemons: readonly Daemon[]): Promise<void> {
  await Promise.all(daemons.map(({ child }) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  })));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, daemons: readonly Daemon[]): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const dead = daemons.find(({ child }) => child.exitCode !== null);
    if (dead !== undefined) throw new Error(`${dead.name} exited with ${dead.child.exitCode} while waiting for ${what}; see ${dead.log}`);
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * (attempt + 1))));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function runDemoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(demoUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const count = parseNumber(flags.nodes ?? '5', 'nodes', { min: 1, max: 50, integer: true });
  const sizeMib = parseNumber(flags['size-mib'] ?? '4', 'size-mib', { min: 0.001, max: 256 });
  const dir = flags.dir ?? await mkdtemp(join(await realpath(tmpdir()), 'coap-fleet-demo-'));
  let succeeded = false;
  await mkdir(dir, { recursive: true });
  const say = (text: string): void => { io.stdout.write(`${text}\n`); };
  const nodeIds = Array.from({ length: count }, (_, i) => `node-${i + 1}`);
  const daemons: Daemon[] = [];
  let gateway: GatewayClient | undefined;
  try {
    say(`demo in ${dir}`);
    const keys = join(dir, 'keys');
    await generateKeys(keys, nodeIds, 'admin', true);
    const credentials = await demoCredentials(keys, nodeIds, flags.certs === true);
    say(`keys: publisher Ed25519 pair, ${credentials.description}`);

    const ready = join(dir, 'gateway.ready');
    daemons.push(startDaemon('gateway', [
      'server', '--data-dir', join(dir, 'gateway'), '--port', 'off', '--dtls-host', '127.0.0.1', '--dtls-port', '0',
      ...credentials.gatewayArgs, '--publisher-key-file', join(keys, 'publisher.pub'), '--ready-file', ready,
      // A kept fleet gets the dashboard too (issue 15), on an ephemeral loopback port.
      ...(flags.keep === true ? ['--dashboard-port', '0', '--dashboard-tokens-file', join(keys, DASHBOARD_TOKENS_FILE)] : []),
    ], join(dir, 'gateway.log')));
    const { coaps_port: port, est_port: estPort, dashboard_port: dashboardPort } = await until('the gateway', async () => (existsSync(ready)
      ? JSON.parse(await readFile(ready, 'utf8')) as { coaps_port: number; est_port: number | null; dashboard_port: number | null } : undefined), READY_TIMEOUT_MS, daemons);
    const gatewayUri = `coaps://127.0.0.1:${port}`;
    say(`gateway: ${gatewayUri} (DTLS 1.2, ${flags.certs === true ? 'certificates' : 'PSK'}), log ${join(dir, 'gateway.log')}`);

    gateway = await openGateway({ gateway: gatewayUri, ...credentials.operator });
    const client = gateway;
    const nodeFiles = new Map<string, DemoNodeFiles>();
    for (const id of nodeIds) {
      const config = join(dir, `${id}.json`);
      const files = await prepareDemoNode(join(dir, `${id}-files`), id);
      nodeFiles.set(id, files);
      await writeFile(config, JSON.stringify({
        node_id: id, gateway: gatewayUri, data_dir: join(dir, id), publisher_key: join(keys, 'publisher.pub'),
        initial_version: '1.0.0', hardware: 'demo (loopback)', health_interval_s: 2,
        ...await credentials.agentConfig(id, client, estPort),
        ...remoteOperationsAgentSettings(files, join(keys, 'operator-command.pub')),
      }, null, 2));
      daemons.push(startDaemon(id, ['agent', '--config', config], join(dir, `${id}.log`)));
    }
    const nodes = await until(`${count} nodes to register`, async () => {
      const listed = await listNodes(client);
      return listed.filter((node) => node.online).length === count ? listed : undefined;
    }, READY_TIMEOUT_MS, daemons);
    say(`${count} agents registered:\n${nodesTable(nodes)}`);

    const image = join(dir, 'firmware-2.0.0.bin');
    const { sha256 } = await writeRandomImage(image, Math.round(sizeMib * 1024 * 1024));
    const privateKey = await readSigningKey(join(keys, 'publisher.key'));
    const started = Date.now();
    const progress = publishProgress(io.stderr, image);
    const manifest = await publishImage(gateway, {
      image, version: '2.0.0', updateId: 'fw-2.0.0', targets: nodeIds,
      policy: { max_parallel_installs: 2, canary: 1, failure_threshold: 1 }, privateKey, progress,
    }).finally(() => progress.finish());
    say(`published fw-2.0.0: ${manifest.size} bytes, sha256 ${sha256.slice(0, 16)}…, signed; canary node-1, then 2 at a time`);

    const final = await watchRollout({ gateway: gatewayUri, ...credentials.operator }, 'fw-2.0.0',
      rolloutPrinter(io), ROLLOUT_TIMEOUT_MS);
    const seconds = (Date.now() - started) / 1000;
    // An agent re-registers with its new version just after it reports `installed`: give
    // the last ones a moment to arrive (bounded) before the summary.
    const after = await until('every node to report its new version', async () => {
      const listed = await listNodes(client);
      return listed.every((node) => node.version === '2.0.0') ? listed : undefined;
    }, 15_000, daemons).catch(() => listNodes(client));
    say(`\n${nodesTable(after)}`);
    const installed = Object.values(final.nodes).filter((status) => status.state === 'installed').length;
    const onNew = after.filter((node) => node.version === '2.0.0').length;
    say(`rollout ${final.rollout} in ${seconds.toFixed(1)} s: ${installed}/${count} installed, ${onNew}/${count} report version 2.0.0`);
    const ok = final.rollout === 'completed' && installed === count && onNew === count;
    if (flags.keep === true) await keepRunning(io, daemons, nodeFiles, { gateway: gatewayUri, keys, operatorFlags: credentials.operatorFlags, dashboardPort });
    succeeded = ok;
    return ok ? 0 : 1;
  } finally {
    await gateway?.close();
    await stopDaemons(daemons);
    // A directory of our own making goes when all went well; otherwise its logs stay.
    if (succeeded && flags.dir === undefined) await rm(dir, { recursive: true, force: true });
    else if (!succeeded) io.stderr.write(`logs and state kept in ${dir}\n`);
  }
}

/** Until SIGINT or SIGTERM: says how to reach the fleet, has each node's app log a line
 * now and then, and starts again an agent that a signed restart stopped (its
 * restart_command leaves the marker; a shutdown leaves the node off). */
async function keepRunning(
  io: CliIo, daemons: Daemon[], nodeFiles: ReadonlyMap<string, DemoNodeFiles>,
  where: { gateway: string; keys: string; operatorFlags: string; dashboardPort: number | null },
): Promise<void> {
  const cli = `node ${relative(process.cwd(), BIN)}`;
  const reach = `--gateway ${where.gateway} ${where.operatorFlags}`;
  const tokenFile = join(where.keys, dashboardTokenFile('admin'));
  const dashboard = where.dashboardPort === null ? ''
    : `  dashboard:    http://127.0.0.1:${where.dashboardPort}/\n`
      + `  login token:  ${(await readFile(tokenFile, 'utf8')).trim()} (in ${tokenFile})\n`;
  io.stdout.write('\nThe fleet runs on until Ctrl-C.\n'
    + `  gateway:      ${where.gateway}\n`
    + dashboard
    + `  credentials:  ${where.operatorFlags}\n`
    + `  command key:  ${join(where.keys, 'operator-command.key')} (found beside the credentials)\n`
    + 'Try, in another terminal:\n'
    + `  ${cli} node node-1 metrics ${reach}\n`
    + `  ${cli} node node-1 services ${reach}\n`
    + `  ${cli} node node-1 logs --follow ${reach}\n`);
  let stopping = false;
  let lines = 0;
  const tick = setInterval(() => {
    lines++;
    for (const [id, files] of nodeFiles) void appendDemoLog(files, lines % 6 === 0 ? 4 : 6, `${id}: ${lines * 10} requests served`).catch(() => {});
  }, KEPT_LOG_INTERVAL_MS);
  const restartWhenRebooted = (index: number): void => {
    const daemon = daemons[index]!;
    const files = nodeFiles.get(daemon.name);
    if (files === undefined) return;
    daemon.child.once('exit', () => {
      if (stopping || !existsSync(files.rebootMarker)) return;
      void rm(files.rebootMarker, { force: true }).then(() => {
        if (stopping) return;
        daemons[index] = startDaemon(daemon.name, daemon.args, daemon.log, true);
        io.stdout.write(`${daemon.name} restarted (a signed reboot)\n`);
        restartWhenRebooted(index);
      });
    });
  };
  daemons.forEach((_, index) => restartWhenRebooted(index));
  try {
    await io.shutdown();
  } finally {
    stopping = true;
    clearInterval(tick);
  }
}

/** The live view: a line per node each time its state or its progress by a quarter changes
 * (a log that reads the same on a terminal and in a file). */
function rolloutPrinter(io: CliIo): (view: StatusView) => void {
  const seen = new Map<string, string>();
  return (view) => {
    const width = Math.max(...Object.keys(view.nodes).map((id) => id.length));
    for (const [id, status] of Object.entries(view.nodes).sort()) {
      const key = `${status.state}|${Math.floor(status.progress * 4)}`;
      if (seen.get(id) === key) continue;
      seen.set(id, key);
      io.stdout.write(`${nodeLine(id, status, width)}\n`);
    }
  };
}
