// Retransmission timers on a lossy link: lock-step CON GETs (as a Block2 download makes
// them, one at a time) over a virtual link with 20 % loss each way, 20 ms and 200 ms of
// delay, with CoCoA's learnt RTO (draft-ietf-core-cocoa) against RFC 7252's fixed §4.8
// timers. On the virtual clock: the figure is virtual seconds, deterministic per seed, and
// the run takes a few seconds of real time whatever the link.

import { Endpoint } from '../../src/protocol/endpoint.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import type { CongestionControl } from '../../src/protocol/parameters.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import { FaultyTransport } from '../../src/protocol/transport-faulty.js';
import { MemoryNetwork } from '../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../src/protocol/virtual-clock.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';

const BENCH = 'retransmission';
const REQUESTS = 200;
const SEEDS = [1, 2, 3, 4, 5];
const LOSS = 0.2;
const DELAYS_MS = [20, 200];
/** The fixed timers' row, as a peer of the CoCoA row, so the table gives cocoa / fixed. */
const FIXED = 'coap-fleet fixed §4.8';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** REQUESTS GETs one after another: the virtual ms the answered ones took in all, how many
 * were answered, and how many failed (after their retransmissions or the request's time
 * limit; a failure costs tens of seconds either way, so it is counted, not timed). */
async function lockStep(congestionControl: CongestionControl, delayMs: number, seed: number): Promise<{ ms: number; answered: number; failed: number }> {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  // The loss, delay and jitter apply to each datagram, in both directions, on the client's side.
  const link = new FaultyTransport(network.transport(), { loss: LOSS, delayMs, jitterMs: delayMs / 4 }, new SeededRandom(seed), clock);
  const parameters = { congestionControl };
  const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(seed + 100), parameters });
  const client = new Endpoint({ transport: link, clock, random: new SeededRandom(seed + 200), parameters });
  server.router.add('/block', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: Buffer.alloc(1024) }) } });
  let failed = 0;
  let answered = 0;
  let ms = 0;
  for (let index = 0; index < REQUESTS; index++) {
    let done = false;
    const started = clock.now();
    client.request({ peer: server.address(), path: ['block'], method: Method.GET }).then(() => {
      answered++;
      ms += clock.now() - started;
      done = true;
    }, () => {
      failed++;
      done = true;
    });
    while (!done) {
      await settle();
      if (!done && !clock.runNext()) break;
    }
  }
  await Promise.all([client.close(), server.close()]);
  return { ms, answered, failed };
}

export const retransmissionBenchmark: Benchmark = {
  name: BENCH,
  async run(report: Report): Promise<void> {
    for (const delayMs of DELAYS_MS) {
      for (const [impl, mode] of [[OURS, 'cocoa'], [FIXED, 'fixed']] as const) {
        let ms = 0;
        let answered = 0;
        let failed = 0;
        for (const seed of SEEDS) {
          const run = await lockStep(mode, delayMs, seed);
          ms += run.ms;
          answered += run.answered;
          failed += run.failed;
        }
        const link = `20% loss, ${delayMs} ms delay`;
        report.add(BENCH, impl, `${link}: ms per answered GET (virtual)`, ms / answered);
        report.add(BENCH, impl, `${link}: GETs failed of ${REQUESTS * SEEDS.length}`, failed);
      }
    }
  },
};
