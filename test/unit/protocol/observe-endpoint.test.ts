// Observe end to end through two endpoints (RFC 7641, with Block2 from RFC 7959 §2.6) on a
// virtual clock over the in-memory link: every step waits on what it needs (a response, a
// count of observers) while the clock runs, never on real time.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint, type EndpointOptions } from '../../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { settle, until } from '../../helpers/virtual-world.js';

function pair(serverOptions: Partial<EndpointOptions> = {}) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const server = new Endpoint({ ...serverOptions, transport: network.transport(), clock, random: new SeededRandom(1) });
  const client = new Endpoint({ transport: network.transport(), clock, random: new SeededRandom(2) });
  const base = `coap://127.0.0.1:${server.address().port}`;
  return { clock, server, client, base, close: () => Promise.all([server.close(), client.close()]) };
}

test('an observer gets the first state and then every notified change, in order, with increasing Observe', async () => {
  const { clock, server, client, base, close } = pair();
  let value = 0;
  try {
    server.router.add('/counter', { observable: true, attributes: [{ name: 'obs' }], handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(value) }) } });
    const { observation, first } = await settle(clock, client.observe({ uri: `${base}/counter` }), 'the registration');
    assert.is(first.payload.toString(), '0');
    assert.is(server.observers('/counter'), 1);
    const seen: string[] = [];
    const sequences = [getUintOption(first.options, OptionNumber.Observe)!];
    const reading = (async () => {
      for await (const n of observation) {
        seen.push(n.payload.toString());
        sequences.push(getUintOption(n.options, OptionNumber.Observe)!);
        if (seen.length === 5) break;
      }
    })();
    for (let i = 1; i <= 5; i++) {
      value = i;
      server.notify('/counter');
      // Each change arrives before the next is made, so none is superseded (§4.5.2).
      await until(clock, `notification ${i}`, () => seen.length === i);
    }
    await settle(clock, reading, 'the reader');
    assert.equal(seen, ['1', '2', '3', '4', '5']);
    for (let i = 1; i < sequences.length; i++) assert.ok(sequences[i]! > sequences[i - 1]!, `Observe increases: ${sequences.join(', ')}`);
    assert.is(observation.state, 'ended', 'breaking out of the loop forgets the observation');
    value = 6;
    server.notify('/counter');
    await until(clock, 'the RST to the next notification removed the observer', () => server.observers('/counter') === 0);
  } finally { await close(); }
});

test('active cancellation (Observe = 1) removes the registration at once', async () => {
  const { clock, server, client, base, close } = pair();
  try {
    server.router.add('/c', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'x' }) } });
    const { observation, first } = await settle(clock, client.observe({ uri: `${base}/c` }), 'the registration');
    assert.ok(getUintOption(first.options, OptionNumber.Observe) !== undefined);
    await settle(clock, observation.cancel(), 'the cancellation');
    assert.is(server.observers('/c'), 0);
  } finally { await close(); }
});

test('a non-observable resource answers without Observe and the observation ends after one response', async () => {
  const { clock, server, client, base, close } = pair();
  try {
    server.router.add('/plain', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'p' }) } });
    const { observation, first } = await settle(clock, client.observe({ uri: `${base}/plain` }), 'the request');
    assert.is(getUintOption(first.options, OptionNumber.Observe), undefined);
    assert.is(observation.state, 'ended');
  } finally { await close(); }
});

test('removing the resource sends a final 4.04 that ends the observation', async () => {
  const { clock, server, client, base, close } = pair();
  try {
    server.router.add('/gone', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'here' }) } });
    const { observation } = await settle(clock, client.observe({ uri: `${base}/gone` }), 'the registration');
    server.removeResource('/gone');
    const codes: number[] = [];
    await settle(clock, (async () => { for await (const n of observation) codes.push(n.code); })(), 'the end of the observation');
    assert.equal(codes, [ResponseCode.NotFound]);
  } finally { await close(); }
});

test('a large observed representation arrives whole in every notification (Block2 + Observe)', async () => {
  const { clock, server, client, base, close } = pair();
  let fill = 1;
  try {
    server.router.add('/big', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: Buffer.alloc(5000, fill), etag: Buffer.from([fill]) }) } });
    const { observation, first } = await settle(clock, client.observe({ uri: `${base}/big` }), 'the registration');
    assert.is(first.payload.length, 5000);
    fill = 2;
    server.notify('/big');
    const next = await settle(clock, observation[Symbol.asyncIterator]().next(), 'the notification');
    assert.is(next.done, false);
    assert.is(next.value!.payload.length, 5000);
    assert.is(next.value!.payload[4999], 2);
    observation.forget();
  } finally { await close(); }
});

test('observers beyond the per-peer bound are served as plain GETs', async () => {
  const { clock, server, client, base, close } = pair({ observeLimits: { perPeer: 3 } });
  try {
    server.router.add('/o', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'o' }) } });
    const results = [];
    for (let i = 0; i < 5; i++) results.push((await settle(clock, client.observe({ uri: `${base}/o` }), `observer ${i}`)).first);
    assert.equal(results.map((r) => getUintOption(r.options, OptionNumber.Observe) !== undefined), [true, true, true, false, false]);
    assert.is(server.observers('/o'), 3);
  } finally { await close(); }
});

test.run();
