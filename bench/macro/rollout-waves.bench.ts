// What a rollout in waves costs the gateway (issue 13): a real `coap-fleet server` (plain
// CoAP on loopback, its LMDB in a temporary directory) and TARGETS simulated targets driven
// from this process with the requests a node makes, as local tooling may (?node=ID): its
// reports, its install requests until granted (in rounds, at once again after a 5.03: the
// time a real node waits out is not the gateway's work), its final report. The same rollout in three
// waves (10%, 50%, 100%, no bake) and without waves. Figures: the gateway's CPU (utime +
// stime from /proc) and its flushed LMDB transactions (one per accepted report and per
// grant: a 5.03 writes nothing).

import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY, signManifest, type UpdatePolicy } from '../../src/fleet/manifest.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { cpuSeconds } from './proc-stats.js';
import { daemon, until } from './proxy-fleet.js';
import { stopChild } from './servers.js';

const TARGETS = 300;
const WAVES = ['10%', '50%', '100%'];
const publisher = generateKeyPairSync('ed25519');

interface RolloutFigures {
  readonly cpuMs: number;
  readonly transactions: number;
  readonly installRequests: number;
  readonly unavailable: number;
}

/** One rollout of TARGETS targets with `policy` on a fresh gateway. */
async function rollout(policy: UpdatePolicy, planned: boolean): Promise<RolloutFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-bench-waves-'));
  const ready = join(dir, 'gateway.ready');
  const gateway = daemon(join(dir, 'gateway.log'), ['server', '--data-dir', join(dir, 'gateway'), '--host', '127.0.0.1', '--port', '0', '--ready-file', ready]);
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  try {
    const { coap_port: port } = await until('the gateway\'s ready file', gateway, () => (existsSync(ready)
      ? JSON.parse(readFileSync(ready, 'utf8')) as { coap_port: number } : undefined));
    const peer = { address: '127.0.0.1', port };
    const send = async (method: keyof typeof Method, path: string, body?: unknown, query: string[] = []): Promise<number> => (await client.request({
      peer, path, method: Method[method], query, timeoutMs: 30_000,
      ...(body === undefined ? {} : { payload: Buffer.from(JSON.stringify(body)), contentFormat: ContentFormat.Json }),
    })).code;
    const targets = Array.from({ length: TARGETS }, (_, index) => `node-${String(index).padStart(4, '0')}`);
    const manifest = signManifest({
      update_id: 'fw-2.0.0', version: '2.0.0', size: 1024, checksum: `sha256:${'ab'.repeat(32)}`, target_nodes: targets, policy,
      ...(planned ? { policy_version: 2 as const } : {}),
    }, publisher.privateKey);
    if (await send('POST', '/updates', manifest) !== ResponseCode.Created) throw new Error('the manifest was refused');
    const started = cpuSeconds(gateway.pid!);
    let transactions = 0;
    let installRequests = 0;
    let unavailable = 0;
    const report = async (node: string, state: string): Promise<void> => {
      if (await send('PUT', '/updates/fw-2.0.0/status', { state, progress: 1 }, [`node=${node}`]) !== ResponseCode.Changed) throw new Error(`${node} ${state} refused`);
      transactions++;
    };
    for (const node of targets) for (const state of ['downloading', 'downloaded']) await report(node, state);
    // Rounds: every waiting target asks, then the granted ones report installed; a later
    // wave's targets hear 5.03 while the wave before installs.
    let waiting = targets;
    while (waiting.length > 0) {
      const still: string[] = [];
      const granted: string[] = [];
      for (const node of waiting) {
        installRequests++;
        const code = await send('POST', '/updates/fw-2.0.0/install', undefined, [`node=${node}`]);
        if (code === ResponseCode.ServiceUnavailable) {
          unavailable++;
          still.push(node);
        } else if (code === ResponseCode.Changed) {
          transactions++;
          granted.push(node);
        } else {
          throw new Error(`${node}: install answered ${code}`);
        }
      }
      for (const node of granted) await report(node, 'installed');
      waiting = still;
    }
    return { cpuMs: Math.round((cpuSeconds(gateway.pid!) - started) * 1000), transactions, installRequests, unavailable };
  } finally {
    await client.close();
    await stopChild(gateway);
    await rm(dir, { recursive: true, force: true });
  }
}

export const rolloutWavesBenchmark: Benchmark = {
  name: 'rollout-waves',
  async run(report: Report): Promise<void> {
    const policy: UpdatePolicy = { ...DEFAULT_POLICY, max_parallel_installs: TARGETS, failure_threshold: TARGETS };
    const waves = await rollout({ ...policy, waves: WAVES, bake_s: 0, wave_failure_threshold: 1 }, true);
    const flat = await rollout(policy, false);
    for (const [impl, figures] of [[OURS, waves], ['no waves', flat]] as const) {
      report.add('rollout-waves', impl, `gateway CPU ms, ${TARGETS} targets`, figures.cpuMs);
      report.add('rollout-waves', impl, 'flushed LMDB transactions', figures.transactions);
      report.add('rollout-waves', impl, 'install requests', figures.installRequests);
      report.add('rollout-waves', impl, '5.03 answers', figures.unavailable);
    }
  },
};
