// Progress reports go NON and state changes CON (status-reporter.ts), on a virtual clock
// over the in-memory link: with every progress report lost, the block requests that run
// beside them are never held behind NSTART, and the final state still arrives in a CON.
// The gateway is a stand-in Endpoint with the status and block resources (the real one is
// tested against the agent end to end); the reporter, link, store and stack are real.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayLink } from '../../../src/agent/gateway-link.js';
import { StatusReporter } from '../../../src/agent/status-reporter.js';
import { AgentStore, type NodeUpdateRecord } from '../../../src/agent/store.js';
import { createDaemonLogger } from '../../../src/fleet/logger.js';
import type { StatusReport } from '../../../src/fleet/schemas.js';
import type { NodeUpdateState } from '../../../src/fleet/update-state.js';
import { decode } from '../../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import type { DatagramHandler, PeerAddress, Transport } from '../../../src/protocol/interfaces.js';
import { MessageType } from '../../../src/protocol/message.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { settle } from '../../helpers/virtual-world.js';
import { unexpectedWarnings } from './agent-harness.js';
import { tempDir } from './fake-gateway.js';

const BLOCKS = 20;
const BLOCK_WORK_MS = 1000;

/** The agent's side of the link, losing every status PUT that carries progress past 0. */
class LosingProgress implements Transport {
  readonly scheme = 'coap' as const;
  readonly lost: MessageType[] = [];
  constructor(readonly inner: Transport) {}
  address(): PeerAddress { return this.inner.address(); }
  onDatagram(handler: DatagramHandler): void { this.inner.onDatagram(handler); }
  close(): Promise<void> { return this.inner.close(); }
  send(data: Buffer, peer: PeerAddress): void {
    const message = decode(data);
    if (message.code === Method.PUT && message.payload.length > 0) {
      const report = JSON.parse(message.payload.toString('utf8')) as StatusReport;
      if (report.state === 'downloading' && report.progress > 0) {
        this.lost.push(message.type);
        return;
      }
    }
    this.inner.send(data, peer);
  }
}

const record = (state: NodeUpdateState, progress: number): NodeUpdateRecord => ({
  updateId: 'u1', manifest: null, state, progress, error: null, download: null, install: null, updatedAt: new Date(0).toISOString(),
});

test('with every progress report lost, block requests are never held behind NSTART, and the final state arrives in a CON', async () => {
  const temp = await tempDir('coap-fleet-progress-');
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 5);
  const gateway = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(1) });
  const reports: { state: string; progress: number; confirmable: boolean }[] = [];
  gateway.router.add('/updates/{id}/status', {
    handlers: {
      PUT: (request) => {
        const report = JSON.parse(request.payload.toString('utf8')) as StatusReport;
        reports.push({ state: report.state, progress: report.progress, confirmable: request.confirmable });
        return { code: ResponseCode.Changed };
      },
    },
  });
  gateway.router.add('/block/{n}', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `block ${request.params.n}` }) } });
  const link = new LosingProgress(network.transport());
  const agent = new Endpoint({ transport: link, clock, random: new SeededRandom(2) });
  const store = AgentStore.open(join(temp.path, 'state'));
  const logs: Record<string, unknown>[] = [];
  const log = createDaemonLogger({ level: 'debug', pretty: false, stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });
  const base = `coap://${gateway.address().address}:${gateway.address().port}`;
  const reporter = new StatusReporter(new GatewayLink(agent, base, 'n1', () => {}), store, log, clock);
  try {
    reporter.report(record('downloading', 0));
    await settle(clock, reporter.idle(), 'the first downloading report');
    const durations: number[] = [];
    for (let n = 1; n <= BLOCKS; n++) {
      reporter.report(record('downloading', n / BLOCKS));
      const started = clock.now();
      const block = await settle(clock, agent.request({ uri: `${base}/block/${n}` }), `block ${n}`);
      durations.push(clock.now() - started);
      assert.is(block.payload.toString(), `block ${n}`);
      // Writing and hashing the block take a while: the progress reports get their turn.
      await settle(clock, new Promise<void>((resolve) => clock.setTimeout(resolve, BLOCK_WORK_MS)), 'the block written');
    }
    await store.saveUpdate(record('downloaded', 1));
    reporter.report(record('downloaded', 1));
    await settle(clock, reporter.idle(), 'the downloaded report');

    // Two 5 ms hops: never a retransmission timeout (2 s and more) behind a lost report.
    assert.ok(durations.every((ms) => ms <= 20), `block request durations ${durations.join(' ')} ms`);
    assert.ok(link.lost.length >= 5, `progress reports were sent and lost: ${link.lost.length}`);
    assert.ok(link.lost.every((type) => type === MessageType.NON), 'every progress report went NON, once');
    assert.equal(reports, [
      { state: 'downloading', progress: 0, confirmable: true },
      { state: 'downloaded', progress: 1, confirmable: true },
    ]);
    assert.equal(unexpectedWarnings(logs, []), []);
  } finally {
    await reporter.stop();
    await agent.close();
    await gateway.close();
    await store.close();
    await temp.remove();
  }
});

test.run();
