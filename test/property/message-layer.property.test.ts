import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { encode, decode } from '../../src/protocol/codec.js';
import { RetransmitTimeoutError, RequestTimeoutError } from '../../src/protocol/errors.js';
import { MessageType } from '../../src/protocol/message.js';
import { stringOption, OptionNumber } from '../../src/protocol/options.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../src/protocol/virtual-clock.js';
import { drive, lossyWorld } from '../helpers/virtual-world.js';
import { DEFAULT_PARAMETERS, deriveTimes, type CongestionControl } from '../../src/protocol/parameters.js';

const TIMES = deriveTimes(DEFAULT_PARAMETERS);
const { ackTimeout, maxRetransmit, minRtoMs } = DEFAULT_PARAMETERS;
/** A CON that starts with timeout `first` and backs off by `factor`: when it gives up, after
 * the timeout that follows its last retransmission (§4.2). */
const giveUpAfter = (first: number, factor: number): number => first * (factor ** (maxRetransmit + 1) - 1) / (factor - 1);
/** The earliest a CON may give up after its first transmission. Fixed: ACK_TIMEOUT x
 * (2^(MAX_RETRANSMIT+1) - 1), 62 s. CoCoA: the least over its three backoff factors, each
 * from the smallest RTO that has it: x3 from the floor (500 ms: 60.5 s), x2 from 1 s (31 s),
 * x1.5 from 3 s (39.6 s), or just past MAX_TRANSMIT_SPAN if that comes first; so 31 s. */
const EARLIEST_GIVE_UP: Record<CongestionControl, number> = {
  fixed: giveUpAfter(ackTimeout, 2),
  cocoa: Math.min(giveUpAfter(minRtoMs, 3), giveUpAfter(1000, 2), Math.min(giveUpAfter(3000, 1.5), TIMES.maxTransmitSpan)),
};

for (const congestionControl of ['fixed', 'cocoa'] as const) {
  test(`${congestionControl}: under 30% loss, 10% duplication and reordering each CON request reaches its handler once and completes, or times out no earlier than the RFC allows`, async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 24 }), async (seed, count) => {
      const { clock, server, client } = lossyWorld(seed, { loss: 0.3, duplication: 0.1, reorder: 0.1 }, {
        client: { parameters: { nstart: 64, congestionControl } }, server: { parameters: { congestionControl } },
      });
      const calls = new Map<string, number>();
      server.router.add('/echo/{id}', {
        handlers: {
          POST: (request) => {
            const id = request.params.id!;
            calls.set(id, (calls.get(id) ?? 0) + 1);
            // Every third request is slow: an empty ACK, then a separate CON response.
            const answer = { code: ResponseCode.Changed, payload: `done ${id}` };
            if (Number(id) % 3 !== 0) return answer;
            return new Promise((resolve) => clock.setTimeout(() => resolve(answer), 900));
          },
        },
      });
      const outcomes: ({ ok: true; payload: string } | { ok: false; error: unknown; at: number })[] = [];
      const started = clock.now();
      for (let i = 0; i < count; i++) {
        client.request({ peer: server.address(), path: ['echo', String(i)], method: Method.POST })
          .then((response) => { outcomes[i] = { ok: true, payload: response.payload.toString() }; },
            (error: unknown) => { outcomes[i] = { ok: false, error, at: clock.now() - started }; });
      }
      await drive(clock, () => outcomes.filter(Boolean).length === count, TIMES.maxTransmitWait + 10_000);
      assert.is(outcomes.filter(Boolean).length, count, 'every request settled');
      for (let i = 0; i < count; i++) {
        const outcome = outcomes[i]!;
        const handled = calls.get(String(i)) ?? 0;
        assert.ok(handled <= 1, `request ${i} reached its handler ${handled} times`);
        if (outcome.ok) {
          assert.is(outcome.payload, `done ${i}`);
          assert.is(handled, 1);
        } else {
          assert.ok(outcome.error instanceof RetransmitTimeoutError || outcome.error instanceof RequestTimeoutError, String(outcome.error));
          assert.ok(outcome.at >= EARLIEST_GIVE_UP[congestionControl], `gave up after ${outcome.at} ms, before ${EARLIEST_GIVE_UP[congestionControl]}`);
        }
      }
      // After quiet time every table is empty and no timer is left. Separate responses are
      // CONs to one peer, sent NSTART (1) at a time (§4.7), so those the client gave up on
      // may wait behind each other for MAX_TRANSMIT_WAIT apiece; once the server has none
      // left, the client remembers the last for EXCHANGE_LIFETIME.
      const serverQuiet = (): boolean => server.messageLayer.sizes.outstanding === 0 && server.messageLayer.sizes.queued === 0;
      await drive(clock, serverQuiet, count * TIMES.maxTransmitWait);
      assert.ok(serverQuiet(), 'the server sent or gave up on every separate response');
      await drive(clock, () => false, TIMES.exchangeLifetime + 10_000);
      assert.equal(server.messageLayer.sizes, { dedup: 0, dedupBytes: 0, outstanding: 0, queued: 0 });
      assert.equal(client.messageLayer.sizes, { dedup: 0, dedupBytes: 0, outstanding: 0, queued: 0 });
      assert.is(client.openExchanges, 0);
      assert.is(clock.pendingTimers, 0);
      await Promise.all([server.close(), client.close()]);
    }), { numRuns: 25, interruptAfterTimeLimit: 20_000 });
  });
}

test('cocoa: requests one after another under 30% loss learn an RTO within its bounds, and each completes or gives up no earlier than CoCoA allows', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), async (seed) => {
    const { clock, server, client, close } = lossyWorld(seed, { loss: 0.3, duplication: 0.1, reorder: 0.1 }, {
      client: { parameters: { congestionControl: 'cocoa' } }, server: { parameters: { congestionControl: 'cocoa' } },
    });
    server.router.add('/echo', { handlers: { POST: () => ({ code: ResponseCode.Changed }) } });
    for (let i = 0; i < 30; i++) {
      const started = clock.now();
      let outcome: { ok: true } | { ok: false; error: unknown; at: number } | undefined;
      client.request({ peer: server.address(), path: ['echo'], method: Method.POST })
        .then(() => { outcome = { ok: true }; }, (error: unknown) => { outcome = { ok: false, error, at: clock.now() - started }; });
      await drive(clock, () => outcome !== undefined, TIMES.maxTransmitWait + 10_000);
      assert.ok(outcome !== undefined, 'every request settled');
      if (!outcome.ok) {
        // The layer's last timer may be cut to MAX_TRANSMIT_WAIT, when the request's own runs out too.
        assert.ok(outcome.error instanceof RetransmitTimeoutError || outcome.error instanceof RequestTimeoutError, String(outcome.error));
        assert.ok(outcome.at >= EARLIEST_GIVE_UP.cocoa, `gave up after ${outcome.at} ms`);
      }
      const rto = client.messageLayer.rtt(server.address())!.rto;
      assert.ok(rto >= DEFAULT_PARAMETERS.minRtoMs && rto <= DEFAULT_PARAMETERS.maxRtoMs, `RTO ${rto}`);
    }
    // The strong estimator sees the link itself (5 ms each way, 2-12 ms more on the faulty
    // side, sometimes reordered); loss, taken for delay, goes to the weak one.
    const { strong } = client.messageLayer.rtt(server.address())!;
    assert.ok(strong !== undefined && strong.srtt >= 10 && strong.srtt <= 100, `strong SRTT ${strong?.srtt} ms`);
    await close();
  }), { numRuns: 10, interruptAfterTimeLimit: 20_000 });
});

test('a duplicate CON within EXCHANGE_LIFETIME gets the cached response byte for byte, and the handler runs once', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(7) });
  let calls = 0;
  server.router.add('/count', { handlers: { POST: () => ({ code: ResponseCode.Changed, payload: String(++calls) }) } });
  const raw = network.transport();
  const received: Buffer[] = [];
  raw.onDatagram((data) => received.push(data));
  const request = encode({
    type: MessageType.CON, code: Method.POST, messageId: 0x1234, token: Buffer.from('abcd'),
    options: [stringOption(OptionNumber.UriPath, 'count')], payload: Buffer.alloc(0),
  });
  raw.send(request, server.address());
  clock.advance(10);
  clock.advance(TIMES.exchangeLifetime - 1000);
  raw.send(request, server.address());
  clock.advance(10);
  assert.is(received.length, 2);
  assert.is(received[1]!.toString('hex'), received[0]!.toString('hex'));
  assert.is(decode(received[0]!).payload.toString(), '1');
  assert.is(calls, 1);
  // After EXCHANGE_LIFETIME the same message ID is a new request.
  clock.advance(2000);
  raw.send(request, server.address());
  clock.advance(10);
  assert.is(calls, 2);
  await server.close();
});

test('a CoAP ping (empty CON) is answered with RST; a malformed CON with RST; a malformed NON with silence', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock, 1);
  const server = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(8) });
  const raw = network.transport();
  const received: Buffer[] = [];
  raw.onDatagram((data) => received.push(data));
  raw.send(Buffer.from('40000042', 'hex'), server.address());
  clock.advance(10);
  assert.equal(decode(received[0]!), { ...decode(received[0]!), type: MessageType.RST, messageId: 0x42, code: 0 });
  raw.send(Buffer.from('4101004301f1', 'hex'), server.address());
  clock.advance(10);
  assert.is(decode(received[1]!).type, MessageType.RST);
  assert.is(decode(received[1]!).messageId, 0x43);
  raw.send(Buffer.from('5101004401f1', 'hex'), server.address());
  clock.advance(10);
  assert.is(received.length, 2);
  await server.close();
});

test.run();
