// The agent's adaptive transfer (download-tuning.ts): one tuner per download, started from
// the previous download's figures; the status reports of `downloading` and `downloaded`
// carry its figures (in the shape the gateway's parseStatusReport takes) and the later
// ones do not; with `block_transfer: block2` no report carries any. In-process agent
// against the fake gateway over real UDP, real LMDB and files (agent-harness.ts).

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DownloadTuning, transferReportOf } from '../../../src/agent/download-tuning.js';
import { AgentStore } from '../../../src/agent/store.js';
import { parseStatusReport } from '../../../src/fleet/schemas.js';
import { agentWorld, startAgent } from './agent-harness.js';
import { makeImage } from './fake-gateway.js';

test('a tuner per download, each starting where the previous one ended; none with block2', () => {
  const tuning = new DownloadTuning('qblock2');
  const first = tuning.tuner()!;
  assert.equal(first.next(), { sizeExponent: 6, window: 8 });
  first.observe({ asked: 8, received: 8, elapsedMs: 40, rttMs: 35 });
  first.observe({ asked: 16, received: 10, elapsedMs: 400 });
  tuning.remember(first);
  const second = tuning.tuner()!;
  assert.is.not(second, first);
  assert.equal(second.stats, first.stats);
  assert.is(new DownloadTuning('block2').tuner(), undefined);
});

test('the figures on the wire: snake_case, rtt_ms null before a sample, rounded, within the gateway\'s bounds', () => {
  assert.equal(transferReportOf({ blockSize: 512, window: 3, rttMs: undefined, loss: 0 }), { block_size: 512, window: 3, rtt_ms: null, loss: 0 });
  assert.equal(transferReportOf({ blockSize: 1024, window: 64, rttMs: 12.345_67, loss: 1 / 3 }), { block_size: 1024, window: 64, rtt_ms: 12.3, loss: 0.3333 });
  // Whatever a tuner says, the report stays one the gateway takes.
  const extreme = transferReportOf({ blockSize: 16, window: 1e6, rttMs: Number.MAX_VALUE, loss: 1 });
  assert.equal(extreme, { block_size: 16, window: 1024, rtt_ms: 86_400_000, loss: 1 });
  parseStatusReport({ state: 'downloading', progress: 0.5, error: null, transfer: extreme });
});

for (const mode of ['qblock2', 'block2'] as const) {
  test(`block_transfer ${mode}: ${mode === 'qblock2' ? 'downloading and downloaded reports carry the tuner\'s figures, later ones none' : 'no report carries transfer figures'}`, async () => {
    const w = await agentWorld('coap-fleet-transfer-');
    try {
      const image = await makeImage(w.dir, w.publisher, { updateId: 'u1', version: '2.0.0', size: 200_000 });
      w.running = await startAgent(w.data, w.gateway, w.publisher, mode === 'qblock2' ? {} : { block_transfer: mode }, w.logs);
      w.gateway.setUpdates([{ manifest: image.manifest, imagePath: image.imagePath, rollout: 'active', imageReady: true }]);
      assert.is((await w.gateway.outcome('u1')).state, 'installed');
      const reports = w.gateway.statuses.get('u1')!;
      // Each one as the gateway takes it: a bad transfer would be a 4.00 there.
      for (const report of reports) parseStatusReport(report);
      const carrying = reports.filter((report) => report.transfer !== undefined);
      assert.ok(carrying.every((report) => report.state === 'downloading' || report.state === 'downloaded'), JSON.stringify(carrying));
      await w.running.agent.stop();
      w.running = undefined;
      const store = AgentStore.open(join(w.data, 'state'));
      const stored = store.update('u1')?.transfer;
      await store.close();
      if (mode === 'block2') {
        assert.equal(carrying, []);
        assert.is(stored, undefined);
        return;
      }
      assert.ok(carrying.length > 0, JSON.stringify(reports));
      assert.ok(stored !== undefined, 'the figures are kept with the downloaded record');
      // `downloaded` may be superseded by `installing` before it is sent (latest wins).
      const downloaded = reports.find((report) => report.state === 'downloaded');
      if (downloaded !== undefined) assert.equal(downloaded.transfer, stored);
      // On loopback nothing is lost: the block size stays the largest.
      assert.is(stored.block_size, 1024);
    } finally {
      await w.cleanup();
    }
  });
}

test.run();
