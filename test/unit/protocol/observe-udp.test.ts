import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function pair() {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const base = `coap://127.0.0.1:${server.address().port}`;
  return { server, client, base, close: () => Promise.all([server.close(), client.close()]) };
}

test('an observer gets the first state and then every notified change, in order, with increasing Observe', async () => {
  const { server, client, base, close } = await pair();
  let value = 0;
  try {
    server.router.add('/counter', { observable: true, attributes: [{ name: 'obs' }], handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(value) }) } });
    const { observation, first } = await client.observe({ uri: `${base}/counter` });
    assert.is(first.payload.toString(), '0');
    assert.is(server.observers('/counter'), 1);
    const seen: string[] = [];
    const reading = (async () => { for await (const n of observation) { seen.push(n.payload.toString()); if (seen.length === 5) break; } })();
    for (let i = 1; i <= 5; i++) { value = i; server.notify('/counter'); await wait(20); }
    await reading;
    assert.equal(seen, ['1', '2', '3', '4', '5']);
    assert.is(observation.state, 'ended', 'breaking out of the loop forgets the observation');
    value = 6; server.notify('/counter');
    await wait(50);
    assert.is(server.observers('/counter'), 0, 'the RST to the next notification removed the observer');
  } finally { await close(); }
});

test('active cancellation (Observe = 1) removes the registration at once', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/c', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'x' }) } });
    const { observation, first } = await client.observe({ uri: `${base}/c` });
    assert.ok(getUintOption(first.options, OptionNumber.Observe) !== undefined);
    await observation.cancel();
    assert.is(server.observers('/c'), 0);
  } finally { await close(); }
});

test('a non-observable resource answers without Observe and the observation ends after one response', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/plain', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'p' }) } });
    const { observation, first } = await client.observe({ uri: `${base}/plain` });
    assert.is(getUintOption(first.options, OptionNumber.Observe), undefined);
    assert.is(observation.state, 'ended');
  } finally { await close(); }
});

test('removing the resource sends a final 4.04 that ends the observation', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/gone', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'here' }) } });
    const { observation } = await client.observe({ uri: `${base}/gone` });
    server.removeResource('/gone');
    const codes: number[] = [];
    for await (const n of observation) codes.push(n.code);
    assert.equal(codes, [ResponseCode.NotFound]);
  } finally { await close(); }
});

test('a large observed representation arrives whole in every notification (Block2 + Observe)', async () => {
  const { server, client, base, close } = await pair();
  let fill = 1;
  try {
    server.router.add('/big', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: Buffer.alloc(5000, fill), etag: Buffer.from([fill]) }) } });
    const { observation, first } = await client.observe({ uri: `${base}/big` });
    assert.is(first.payload.length, 5000);
    fill = 2; server.notify('/big');
    for await (const n of observation) { assert.is(n.payload.length, 5000); assert.is(n.payload[4999], 2); break; }
  } finally { await close(); }
});

test('observers beyond the per-peer bound are served as plain GETs', async () => {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 }, { observeLimits: { perPeer: 3 } });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  try {
    server.router.add('/o', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'o' }) } });
    const results = [];
    for (let i = 0; i < 5; i++) results.push((await client.observe({ uri: `coap://127.0.0.1:${server.address().port}/o` })).first);
    assert.equal(results.map((r) => getUintOption(r.options, OptionNumber.Observe) !== undefined), [true, true, true, false, false]);
    assert.is(server.observers('/o'), 3);
  } finally { await Promise.all([server.close(), client.close()]); }
});

test.run();
