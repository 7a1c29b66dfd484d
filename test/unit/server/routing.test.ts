// The routing layer: every resource method needs a row in the access table, and a drain
// lets a running handler answer while new requests get 5.03 with Max-Age.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayRoute } from '../../../src/fleet/paths.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import type { AuditEntry } from '../../../src/server/records.js';
import { DENIALS_RECORDED_PER_SECOND, GatewayRouter } from '../../../src/server/routing.js';
import { drive } from '../../helpers/virtual-world.js';

// Two endpoints on a virtual clock over the in-memory link: time moves only when a test
// drives it, so nothing here depends on how busy the machine is.
function setup(options: { allowLocalPlain?: boolean; now?: () => Date } = {}) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const server = new Endpoint({ transport: network.transport(), clock });
  const client = new Endpoint({ transport: network.transport(), clock });
  const audit: AuditEntry[] = [];
  const router = new GatewayRouter([server], {
    logger: silentLogger, audit: (entry) => audit.push(entry), now: options.now ?? (() => new Date(0)), clock,
    authorization: { allowLocalPlain: options.allowLocalPlain ?? true, targetsOf: () => undefined },
  });
  const peer = server.address();
  /** Sends a request and runs the clock until it settles (or 300 s of virtual time). */
  const ask = async (request: Parameters<Endpoint['request']>[0]): Promise<CoapResponse> => {
    let settled = false;
    const answer = client.request(request).finally(() => { settled = true; });
    await drive(clock, () => settled, 300_000);
    return answer;
  };
  return { server, client, router, peer, audit, clock, ask, close: () => Promise.all([server.close(), client.close()]) };
}

test('a method without an access rule cannot be added', async () => {
  const { router, close } = setup();
  try {
    assert.throws(() => router.add(GatewayRoute.nodes, { handlers: { PUT: () => ({ code: ResponseCode.Changed }) } }), /no access rule for PUT \/nodes/);
    assert.throws(() => router.add('/system/unknown', { handlers: { GET: () => ({ code: ResponseCode.Content }) } }), /no access rule/);
  } finally {
    await close();
  }
});

test('a drain lets the running handler answer and refuses new requests with 5.03', async () => {
  const { router, client, peer, clock, ask, close } = setup();
  // Settled outcomes only: an assertion that fails below must not leave a rejection behind.
  const outcomes: { running?: CoapResponse | Error; drained?: number } = {};
  try {
    let release: () => void = () => {};
    let started = false;
    router.add(GatewayRoute.nodes, {
      handlers: {
        GET: async () => {
          started = true;
          await new Promise<void>((resolve) => { release = resolve; });
          return { code: ResponseCode.Content, payload: 'done' };
        },
      },
    });
    client.request({ peer, path: '/nodes' }).then((response) => { outcomes.running = response; }, (error: Error) => { outcomes.running = error; });
    await drive(clock, () => started, 10_000);
    assert.ok(started, 'the first handler is running');
    assert.is(router.inFlight, 1);
    router.drain(2000).then((left) => { outcomes.drained = left; });
    const refused = await ask({ peer, path: '/nodes' });
    assert.is(refused.code, ResponseCode.ServiceUnavailable);
    assert.is(getUintOption(refused.options, OptionNumber.MaxAge), 5);
    release();
    await drive(clock, () => outcomes.drained !== undefined && outcomes.running !== undefined, 10_000);
    assert.is(outcomes.drained, 0, 'nothing left running');
    const answered = outcomes.running;
    assert.ok(answered !== undefined && !(answered instanceof Error), `the running request was answered: ${String(answered)}`);
    assert.is(answered.code, ResponseCode.Content);
    assert.is(answered.payload.toString(), 'done');
  } finally {
    await close();
  }
});

test('a drain gives up after its bound and says how many were still running', async () => {
  const { router, client, peer, clock, close } = setup();
  try {
    let started = false;
    router.add(GatewayRoute.nodes, { handlers: { GET: () => { started = true; return new Promise(() => {}); } } });
    client.request({ peer, path: '/nodes', timeoutMs: 1000 }).catch(() => {});
    await drive(clock, () => started, 10_000);
    assert.ok(started, 'the handler is running');
    let left: number | undefined;
    const drainedAt = clock.now();
    router.drain(100).then((count) => { left = count; });
    await drive(clock, () => left !== undefined, 10_000);
    assert.is(left, 1);
    assert.is(clock.now() - drainedAt, 100, 'gave up at its bound, in virtual time');
  } finally {
    await close();
  }
});

test('denials are recorded up to a bound per second; the excess is counted, not written', async () => {
  let now = 10_000;
  const { router, client, peer, audit, clock, ask, close } = setup({ allowLocalPlain: false, now: () => new Date(now) });
  try {
    router.add(GatewayRoute.nodes, { handlers: { GET: () => ({ code: ResponseCode.Content }) } });
    const answers: CoapResponse[] = [];
    const count = DENIALS_RECORDED_PER_SECOND + 10;
    for (let i = 0; i < count; i++) client.request({ peer, path: '/nodes' }).then((answer) => answers.push(answer), () => {});
    await drive(clock, () => answers.length === count, 300_000);
    assert.is(answers.length, count, 'every request was answered');
    assert.ok(answers.every((answer) => answer.code === ResponseCode.Unauthorized), 'every one is still refused');
    assert.is(audit.length, DENIALS_RECORDED_PER_SECOND);
    now += 1000;
    await ask({ peer, path: '/nodes' });
    assert.equal(audit.slice(-2).map((entry) => [entry.action, entry.detail]), [
      ['access.denied.suppressed', '10 denials'], ['access.denied', 'GET 4.01: no identity'],
    ]);
  } finally {
    await close();
  }
});

test('an id that could never have been created is 4.04 before the handler sees it', async () => {
  const { router, peer, ask, close } = setup();
  try {
    let ran = false;
    router.add(GatewayRoute.node, { handlers: { GET: () => { ran = true; return { code: ResponseCode.Content }; } } });
    assert.is((await ask({ peer, path: ['nodes', 'a/b'] })).code, ResponseCode.NotFound);
    assert.is((await ask({ peer, path: ['nodes', '..'] })).code, ResponseCode.NotFound);
    assert.not.ok(ran);
    assert.is((await ask({ peer, path: ['nodes', 'n1'] })).code, ResponseCode.Content);
  } finally {
    await close();
  }
});

test.run();
