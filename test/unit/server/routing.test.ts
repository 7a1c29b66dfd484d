// The routing layer: every resource method needs a row in the access table, and a drain
// lets a running handler answer while new requests get 5.03 with Max-Age.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayRoute } from '../../../src/fleet/paths.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import type { AuditEntry } from '../../../src/server/records.js';
import { DENIALS_RECORDED_PER_SECOND, GatewayRouter } from '../../../src/server/routing.js';

async function setup(options: { allowLocalPlain?: boolean; now?: () => Date } = {}) {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const audit: AuditEntry[] = [];
  const router = new GatewayRouter([server], {
    logger: silentLogger, audit: (entry) => audit.push(entry), now: options.now ?? (() => new Date(0)),
    authorization: { allowLocalPlain: options.allowLocalPlain ?? true, targetsOf: () => undefined },
  });
  const peer = { address: '127.0.0.1', port: server.address().port };
  return { server, client, router, peer, audit, close: () => Promise.all([server.close(), client.close()]) };
}

test('a method without an access rule cannot be added', async () => {
  const { router, close } = await setup();
  try {
    assert.throws(() => router.add(GatewayRoute.nodes, { handlers: { PUT: () => ({ code: ResponseCode.Changed }) } }), /no access rule for PUT \/nodes/);
    assert.throws(() => router.add('/system/config', { handlers: { GET: () => ({ code: ResponseCode.Content }) } }), /no access rule/);
  } finally {
    await close();
  }
});

test('a drain lets the running handler answer and refuses new requests with 5.03', async () => {
  const { router, client, peer, close } = await setup();
  try {
    let release: () => void = () => {};
    router.add(GatewayRoute.nodes, {
      handlers: { GET: async () => { await new Promise<void>((resolve) => { release = resolve; }); return { code: ResponseCode.Content, payload: 'done' }; } },
    });
    const running = client.request({ peer, path: '/nodes' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is(router.inFlight, 1);
    const drained = router.drain(2000);
    const refused = await client.request({ peer, path: '/nodes' });
    assert.is(refused.code, ResponseCode.ServiceUnavailable);
    assert.is(getUintOption(refused.options, OptionNumber.MaxAge), 5);
    release();
    assert.is(await drained, 0, 'nothing left running');
    const answered = await running;
    assert.is(answered.code, ResponseCode.Content);
    assert.is(answered.payload.toString(), 'done');
  } finally {
    await close();
  }
});

test('a drain gives up after its bound and says how many were still running', async () => {
  const { router, client, peer, close } = await setup();
  try {
    router.add(GatewayRoute.nodes, { handlers: { GET: () => new Promise(() => {}) } });
    void client.request({ peer, path: '/nodes', timeoutMs: 1000 }).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    assert.is(await router.drain(100), 1);
    assert.ok(Date.now() - started < 1000);
  } finally {
    await close();
  }
});

test('denials are recorded up to a bound per second; the excess is counted, not written', async () => {
  let now = 10_000;
  const { router, client, peer, audit, close } = await setup({ allowLocalPlain: false, now: () => new Date(now) });
  try {
    router.add(GatewayRoute.nodes, { handlers: { GET: () => ({ code: ResponseCode.Content }) } });
    const answers = await Promise.all(Array.from({ length: DENIALS_RECORDED_PER_SECOND + 10 }, () => client.request({ peer, path: '/nodes' })));
    assert.ok(answers.every((answer) => answer.code === ResponseCode.Unauthorized), 'every one is still refused');
    assert.is(audit.length, DENIALS_RECORDED_PER_SECOND);
    now += 1000;
    await client.request({ peer, path: '/nodes' });
    assert.equal(audit.slice(-2).map((entry) => [entry.action, entry.detail]), [
      ['access.denied.suppressed', '10 denials'], ['access.denied', 'GET 4.01: no identity'],
    ]);
  } finally {
    await close();
  }
});

test('an id that could never have been created is 4.04 before the handler sees it', async () => {
  const { router, client, peer, close } = await setup();
  try {
    let ran = false;
    router.add(GatewayRoute.node, { handlers: { GET: () => { ran = true; return { code: ResponseCode.Content }; } } });
    assert.is((await client.request({ peer, path: ['nodes', 'a/b'] })).code, ResponseCode.NotFound);
    assert.is((await client.request({ peer, path: ['nodes', '..'] })).code, ResponseCode.NotFound);
    assert.not.ok(ran);
    assert.is((await client.request({ peer, path: ['nodes', 'n1'] })).code, ResponseCode.Content);
  } finally {
    await close();
  }
});

test.run();
