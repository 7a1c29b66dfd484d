// A worker process of `coap-fleet simulate` (forked by simulate-command.ts): runs its
// shard of virtual nodes (src/agent/simulated-node.ts), sends its tally every second and
// stops them all on the parent's word, when the parent goes away, or on SIGTERM. SIGINT
// (a Ctrl-C reaches the whole process group) is left to the parent, which stops the
// workers in order.

import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { SimulatedNode } from '../agent/simulated-node.js';
import { pickedToFail } from '../agent/simulated-installer.js';
import { createDaemonLogger } from '../fleet/logger.js';
import type { FromWorker, ToWorker, WorkerSettings } from './simulate-protocol.js';
import { TALLY_EVERY_MS } from './simulate-protocol.js';
import type { NodeAssignment } from './simulate-shards.js';
import { tallyNodes } from './simulate-tally.js';

/** Nodes started together; the next batch waits for these sockets and contexts. */
const START_BATCH = 100;
/** A node's stop waits for its request in flight at most its grace time (stopper.ts);
 * the whole shard's at most this. */
const STOP_TIMEOUT_MS = 15_000;

class Shard {
  readonly #nodes: SimulatedNode[] = [];
  #startFailures = 0;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #log;

  constructor(worker: number, settings: WorkerSettings) {
    this.#log = createDaemonLogger({ level: settings.logLevel, pretty: false, stream: process.stderr, base: { pid: process.pid, worker } });
  }

  async start(nodes: readonly NodeAssignment[], settings: WorkerSettings): Promise<void> {
    this.#timer = setInterval(() => void send({ kind: 'tally', tally: this.#tally() }), TALLY_EVERY_MS);
    const publisherKey = createPublicKey(settings.publisherKeyPem);
    const began = Date.now();
    for (let first = 0; first < nodes.length && !this.#stopping; first += START_BATCH) {
      const due = began + (settings.rampMs * first) / nodes.length - Date.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      await Promise.all(nodes.slice(first, first + START_BATCH).map(async (node) => {
        try {
          const started = await SimulatedNode.start({
            nodeId: node.nodeId, psk: { identity: node.identity, key: Buffer.from(node.keyHex, 'hex') }, gateway: settings.gateway,
            host: node.host, publisherKey, initialVersion: settings.initialVersion, hardware: settings.hardware,
            healthIntervalMs: settings.healthIntervalMs, registerIntervalMs: settings.registerIntervalMs, metricsIntervalS: settings.metricsIntervalS,
            installMaxWaitMs: settings.installMaxWaitMs, blockTransfer: settings.blockTransfer, retransmission: settings.retransmission,
            downloadsDir: join(settings.workDir, node.nodeId), loss: settings.loss, seed: node.index,
            failsInstall: (updateId) => pickedToFail(node.nodeId, updateId, settings.failRate),
            log: this.#log.child({ node_id: node.nodeId }),
          });
          if (this.#stopping) await started.stop();
          else this.#nodes.push(started);
        } catch (error) {
          this.#startFailures++;
          this.#log.error({ err: error, node_id: node.nodeId, host: node.host }, 'virtual node did not start');
        }
      }));
    }
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const tally = this.#tally();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.#nodes.map((node) => node.stop())),
      new Promise((resolve) => { timer = setTimeout(resolve, STOP_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    await send({ kind: 'stopped', tally });
  }

  #tally() {
    return tallyNodes(this.#nodes.map((node) => node.counters()), this.#startFailures, process.memoryUsage.rss() / 1024 ** 2);
  }
}

/** Resolves once the message is handed to the channel (before the process may exit). */
function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) resolve();
    else process.send!(message, undefined, {}, () => resolve());
  });
}

function runWorker(): void {
  let shard: Shard | undefined;
  const stopAndExit = (): void => {
    void (shard?.stop() ?? Promise.resolve()).finally(() => {
      process.disconnect?.();
      process.exit(0);
    });
  };
  process.on('message', (message: ToWorker) => {
    if (message.kind === 'start' && shard === undefined) {
      shard = new Shard(message.worker, message.settings);
      void shard.start(message.nodes, message.settings);
    } else if (message.kind === 'stop') stopAndExit();
  });
  process.on('disconnect', stopAndExit);
  process.on('SIGTERM', stopAndExit);
  process.on('SIGINT', () => {});
}

if (process.send !== undefined) runWorker();
