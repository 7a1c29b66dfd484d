// The demo's rollout as a measurement: 5 agents x 4 MiB on loopback over DTLS, no faults;
// the time from publish to the last node installed, and each daemon's RSS (VmRSS sampled,
// VmHWM at the end) and CPU seconds (utime + stime) during it, printed for the notes. No
// timing is asserted (DESIGN §9): only that the rollout completes, byte for byte.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { processUsage, withFleet, type Daemon, type ProcessUsage } from '../helpers/fleet.js';

const IMAGE_SIZE = 4 * 1024 * 1024;
const SAMPLE_EVERY_MS = 250;

interface Figures {
  readonly name: string;
  readonly idleRssKiB: number;
  readonly maxRssKiB: number;
  readonly peakRssKiB: number;
  readonly cpuSeconds: number;
}

/** Samples the daemons' /proc figures until stopped; CPU is the difference between the
 * first and the last sample. */
function sampler(daemons: readonly Daemon[]): { stop: () => Figures[] } {
  const first = new Map<Daemon, ProcessUsage>();
  const last = new Map<Daemon, ProcessUsage>();
  const maxRss = new Map<Daemon, number>();
  const sample = (): void => {
    for (const daemon of daemons) {
      const usage = processUsage(daemon.pid);
      if (usage === undefined) continue;
      if (!first.has(daemon)) first.set(daemon, usage);
      last.set(daemon, usage);
      maxRss.set(daemon, Math.max(maxRss.get(daemon) ?? 0, usage.rssKiB));
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return daemons.map((daemon) => ({
        name: daemon.name, idleRssKiB: first.get(daemon)!.rssKiB, maxRssKiB: maxRss.get(daemon)!, peakRssKiB: last.get(daemon)!.peakRssKiB,
        cpuSeconds: Math.round((last.get(daemon)!.cpuSeconds - first.get(daemon)!.cpuSeconds) * 100) / 100,
      }));
    },
  };
}

test('5 agents x 4 MiB on loopback over DTLS: the rollout completes byte for byte; time, RSS and CPU printed', async () => {
  await withFleet({ name: 'figures' }, async (fleet) => {
    const gateway = await fleet.startGateway();
    const agents: Daemon[] = [];
    for (const id of fleet.nodeIds) agents.push(await fleet.startAgent(id));
    await fleet.waitForNodes(fleet.nodeIds, 30_000);
    const image = await fleet.image('fw-2.0.0.bin', IMAGE_SIZE);

    const figures = sampler([gateway, ...agents]);
    const started = Date.now();
    // The demo's policy: a canary, then two at a time.
    await fleet.publish({ image, version: '2.0.0', targets: fleet.nodeIds, policy: { max_parallel_installs: 2, canary: 1, failure_threshold: 1 } });
    const uploaded = Date.now();
    // When each node was first seen downloaded and installed, for the breakdown.
    const reached = new Map<string, number>();
    const final = await fleet.watch('fw-2.0.0', 240_000, (view) => {
      for (const [id, status] of Object.entries(view.nodes)) {
        for (const state of ['downloaded', 'installed'] as const) {
          const past = state === 'downloaded' ? ['downloaded', 'installing', 'installed'].includes(status.state) : status.state === state;
          if (past && !reached.has(`${id} ${state}`)) reached.set(`${id} ${state}`, (Date.now() - started) / 1000);
        }
      }
    });
    const seconds = (Date.now() - started) / 1000;
    const usage = figures.stop();

    assert.is(final.rollout, 'completed');
    for (const id of fleet.nodeIds) {
      assert.is(final.nodes[id]!.state, 'installed', id);
      assert.is((await fleet.currentSlot(id)).sha256, image.sha256, id);
    }
    const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
    const at = (id: string, state: string): string => reached.get(`${id} ${state}`)?.toFixed(1) ?? '?';
    const lines = usage.map((row) => `  ${row.name.padEnd(8)} RSS idle ${mib(row.idleRssKiB)}, max ${mib(row.maxRssKiB)} (VmHWM ${mib(row.peakRssKiB)}), CPU ${row.cpuSeconds.toFixed(2)} s`
      + (row.name === 'gateway' ? '' : `; downloaded at ${at(row.name, 'downloaded')} s, installed at ${at(row.name, 'installed')} s`));
    console.log([
      `rollout 5 nodes x 4 MiB on loopback over DTLS (canary 1, then 2 at a time): ${seconds.toFixed(1)} s from publish to completed (upload ${((uploaded - started) / 1000).toFixed(1)} s)`,
      ...lines,
    ].join('\n'));
    assert.equal(fleet.unexpectedLines(), []);
  });
});

test.run();
