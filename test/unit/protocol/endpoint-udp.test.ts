import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { ResponseError } from '../../../src/protocol/errors.js';
import { parseLinks } from '../../../src/protocol/link-format.js';
import { MessageType } from '../../../src/protocol/message.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { advanceBy, flush, settle } from '../../helpers/virtual-world.js';

async function pair() {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 }, { separateResponseDelayMs: 50 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const base = `coap://127.0.0.1:${server.address().port}`;
  return { server, client, base, close: () => Promise.all([server.close(), client.close()]) };
}

/** The same pair on a virtual clock over the in-memory link, for the tests about time. */
function virtualPair() {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const server = new Endpoint({ transport: network.transport(), clock, separateResponseDelayMs: 50 });
  const client = new Endpoint({ transport: network.transport(), clock });
  const base = `coap://127.0.0.1:${server.address().port}`;
  return { clock, server, client, base, close: () => Promise.all([server.close(), client.close()]) };
}

test('a CON GET over UDP gets a piggybacked 2.05 with the handler payload', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/hello/{name}', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `hi ${request.params.name} ${request.query.join('&')}` }) } });
    const response = await client.request({ uri: `${base}/hello/world?x=1` });
    assert.is(response.code, ResponseCode.Content);
    assert.is(response.payload.toString(), 'hi world x=1');
  } finally {
    await close();
  }
});

test('a slow handler gets an empty ACK and then a separate response', async () => {
  const { clock, server, client, base, close } = virtualPair();
  try {
    let release: () => void = () => {};
    server.router.add('/slow', { handlers: { GET: async () => { await new Promise<void>((resolve) => { release = resolve; }); return { code: ResponseCode.Content, payload: 'late' }; } } });
    const pending = client.request({ uri: `${base}/slow` });
    // Past the 50 ms the server waits before its empty ACK, and its way to the client.
    await advanceBy(clock, 100);
    release();
    const response = await settle(clock, pending, 'the separate response');
    assert.is(response.payload.toString(), 'late');
    assert.is(response.type, MessageType.CON, 'separate response comes as CON');
  } finally {
    await close();
  }
});

test('unknown path is 4.04, wrong method 4.05, handler errors map to their code or 5.00', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/r', { handlers: {
      GET: () => { throw new ResponseError(ResponseCode.Forbidden, 'no'); },
      PUT: () => { throw new Error('internal secret'); },
    } });
    assert.is((await client.request({ uri: `${base}/nothing` })).code, ResponseCode.NotFound);
    assert.is((await client.request({ uri: `${base}/r`, method: Method.DELETE })).code, ResponseCode.MethodNotAllowed);
    assert.is((await client.request({ uri: `${base}/r` })).code, ResponseCode.Forbidden);
    const failed = await client.request({ uri: `${base}/r`, method: Method.PUT });
    assert.is(failed.code, ResponseCode.InternalServerError);
    assert.is(failed.payload.length, 0, 'no internal text leaks to the peer');
  } finally {
    await close();
  }
});

test('a starting endpoint answers every request 5.03 with Max-Age 1, never 4.04, and serves once serve() is called', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const server = new Endpoint({ transport: network.transport(), clock, starting: true });
  const client = new Endpoint({ transport: network.transport(), clock });
  const base = `coap://127.0.0.1:${server.address().port}`;
  try {
    const early = await settle(clock, client.request({ uri: `${base}/nodes`, method: Method.POST, payload: '{}' }), 'the answer while starting');
    assert.is(early.code, ResponseCode.ServiceUnavailable);
    assert.is(getUintOption(early.options, OptionNumber.MaxAge), 1);
    assert.is(early.payload.toString(), 'starting');
    server.router.add('/nodes', { handlers: { POST: () => ({ code: ResponseCode.Created }) } });
    server.serve();
    const served = await settle(clock, client.request({ uri: `${base}/nodes`, method: Method.POST, payload: '{}' }), 'the answer once served');
    assert.is(served.code, ResponseCode.Created);
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

test('/.well-known/core lists resources and filters by query', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/sensors/temp', { handlers: { GET: () => ({ code: ResponseCode.Content }) }, attributes: [{ name: 'rt', value: 'temperature-c' }, { name: 'obs' }] });
    server.router.add('/sensors/light', { handlers: { GET: () => ({ code: ResponseCode.Content }) }, attributes: [{ name: 'rt', value: 'light-lux' }] });
    const all = await client.request({ uri: `${base}/.well-known/core` });
    assert.is(all.contentFormat, 40);
    assert.equal(parseLinks(all.payload.toString()).map((link) => link.target), ['/sensors/light', '/sensors/temp']);
    const filtered = await client.request({ uri: `${base}/.well-known/core?rt=temp*` });
    assert.equal(parseLinks(filtered.payload.toString()).map((link) => link.target), ['/sensors/temp']);
  } finally {
    await close();
  }
});

test('a NON request gets a NON response', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/n', { handlers: { POST: (request) => ({ code: ResponseCode.Changed, payload: request.payload }) } });
    const response = await client.request({ uri: `${base}/n`, method: Method.POST, confirmable: false, payload: 'abc' });
    assert.is(response.type, 1);
    assert.is(response.payload.toString(), 'abc');
  } finally {
    await close();
  }
});

test('IPv6: a server on ::1 answers a client addressing coap://[::1]:port', async () => {
  const server = await Endpoint.udp({ host: '::1', port: 0 });
  const client = await Endpoint.udp({ host: '::1', port: 0 });
  try {
    server.router.add('/v6', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: request.peer.address }) } });
    const response = await client.request({ uri: `coap://[::1]:${server.address().port}/v6` });
    assert.is(response.payload.toString(), '::1');
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

test('an aborted request rejects with a CancelledError and leaves no open exchange', async () => {
  const { server, client, base, close } = await pair();
  try {
    const controller = new AbortController();
    // Aborted once the server has the request, so an exchange is surely open.
    server.router.add('/never', { handlers: { GET: () => { controller.abort(); return new Promise(() => {}); } } });
    const pending = client.request({ uri: `${base}/never`, signal: controller.signal });
    await pending.then(() => assert.unreachable('resolved'), (error: { code?: string }) => assert.is(error.code, 'COAP_ERR_CANCELLED'));
    assert.is(client.openExchanges, 0);
  } finally {
    await close();
  }
});

test('closing the endpoint fails a request still waiting for its separate response, and leaves nothing open', async () => {
  const { clock, server, client, base, close } = virtualPair();
  try {
    server.router.add('/never', { handlers: { GET: () => new Promise(() => {}) } });
    const outcome: { error?: { code?: string }; resolved?: boolean } = {};
    client.request({ uri: `${base}/never`, timeoutMs: 60_000 }).then(() => { outcome.resolved = true; }, (error: { code?: string }) => { outcome.error = error; });
    // The empty ACK is in: the request now waits for its separate response alone.
    await advanceBy(clock, 100);
    assert.is(client.openExchanges, 1);
    const at = clock.now();
    await client.close();
    await flush();
    assert.is(outcome.resolved, undefined, 'not resolved');
    assert.is(outcome.error?.code, 'COAP_ERR_CLOSED', 'failed at once, with no time passing');
    assert.is(clock.now(), at);
    assert.is(client.openExchanges, 0);
  } finally {
    await close();
  }
});

test.run();
