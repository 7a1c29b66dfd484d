// Observe registrations over real DTLS sessions on loopback (RFC 7641 with RFC 7252 §9.1;
// DESIGN §6): the per-observer bound counts an identity across all its sessions and ports,
// and a peer's registrations go when its session goes (close_notify, idle eviction,
// capacity eviction, a new handshake from the same address).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint, type DtlsEndpoint, type DtlsEndpointOptions } from '../../../src/dtls/dtls-endpoint.js';
import { ensureWasm } from '../../helpers/wasm.js';
import type { CoapResponse } from '../../../src/protocol/client.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { ObserveLimits } from '../../../src/protocol/observe-server.js';
import type { Observation } from '../../../src/protocol/observe-client.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { waitFor } from '../../helpers/wait.js';

await ensureWasm();
const LOOPBACK = '127.0.0.1';
const KEYS = new Map([['node:1', Buffer.from('secret-one')], ['node:2', Buffer.from('secret-two')]]);
const FAST = { handshakeTimeout: { initialMs: 200, maxMs: 800 } } as const;
const QUICK = { timeoutMs: 5000 } as const;
/** Room for 20 observers of a resource, 8 per observer. */
const LIMITS: Partial<ObserveLimits> = { perResource: 20, perPeer: 8, total: 100 };

let value = 0;

async function server(options: Partial<DtlsEndpointOptions> = {}): Promise<DtlsEndpoint> {
  const endpoint = await createDtlsEndpoint({
    role: 'server', mode: 'psk', pskLookup: (identity) => KEYS.get(identity), host: LOOPBACK, port: 0, ...FAST,
    endpoint: { observeLimits: LIMITS }, ...options,
  });
  endpoint.router.add('/updates', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: String(value) }) } });
  return endpoint;
}

const client = (identity: string, options: Partial<DtlsEndpointOptions> = {}): Promise<DtlsEndpoint> =>
  createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key: KEYS.get(identity)! }, host: LOOPBACK, port: 0, ...FAST, ...options });

async function observe(from: DtlsEndpoint, to: DtlsEndpoint): Promise<{ observation: Observation; first: CoapResponse }> {
  return from.observe({ uri: `coaps://${LOOPBACK}:${to.address().port}/updates`, ...QUICK });
}

const registered = (response: CoapResponse): boolean => getUintOption(response.options, OptionNumber.Observe) !== undefined;

/** The next notification, or an error after `timeoutMs`. */
async function nextNotification(observation: Observation, timeoutMs = 5000): Promise<CoapResponse> {
  const iterator = observation[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no notification in time')), timeoutMs); });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    if (result.done === true) throw new Error('the observation ended');
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

test('one identity over many sessions is held to its per-identity bound; another identity still registers and is notified', async () => {
  const gateway = await server();
  const hogs = await Promise.all([0, 1, 2, 3, 4].map(() => client('node:1')));
  const other = await client('node:2');
  try {
    const answers: boolean[] = [];
    for (const hog of hogs) for (let i = 0; i < 4; i++) answers.push(registered((await observe(hog, gateway)).first));
    assert.is(answers.filter(Boolean).length, 8, 'node:1 gets 8 registrations over its 5 sessions, no more');
    assert.is(gateway.observers('/updates'), 8);
    const { observation, first } = await observe(other, gateway);
    assert.ok(registered(first), 'node:2 is registered');
    value = 1;
    gateway.notify('/updates');
    assert.is((await nextNotification(observation)).payload.toString(), '1');
  } finally {
    for (const endpoint of [...hogs, other, gateway]) await endpoint.close();
  }
});

test('registrations go with their session: close_notify from the client, and a new handshake from the same port', async () => {
  const gateway = await server();
  const first = await client('node:1');
  const second = await client('node:2');
  try {
    for (let i = 0; i < 3; i++) await observe(first, gateway);
    await observe(second, gateway);
    assert.is(gateway.observers('/updates'), 4);
    assert.ok(first.transport.closeSession({ address: LOOPBACK, port: gateway.address().port }), 'close_notify sent');
    await waitFor('the closed session\'s registrations removed', () => gateway.observers('/updates') === 1);
    // A client that restarts on the same port, without close_notify: its new handshake
    // replaces the old session and the old session's registrations.
    const port = second.address().port;
    await second.transport.close({ closeNotify: false });
    const again = await client('node:2', { port });
    try {
      assert.is((await again.request({ uri: `coaps://${LOOPBACK}:${gateway.address().port}/updates`, ...QUICK })).code, ResponseCode.Content);
      assert.is(gateway.observers('/updates'), 0, 'the replaced session took its registration along');
    } finally {
      await again.close();
    }
  } finally {
    for (const endpoint of [first, second, gateway]) await endpoint.close();
  }
});

test('registrations go with a session evicted for idleness or for capacity', async () => {
  const idle = await server({ limits: { idleTimeoutMs: 300 } });
  const full = await server({ limits: { sessions: 2 } });
  const clients = await Promise.all([0, 1, 2].map(() => client('node:1')));
  try {
    await observe(clients[0]!, idle);
    assert.is(idle.observers('/updates'), 1);
    await waitFor('idle eviction', () => idle.transport.stats().counters.evictedIdle === 1, 5000);
    assert.is(idle.observers('/updates'), 0, 'gone with the idle session');

    for (const each of clients) await observe(each, full);
    assert.is(full.transport.stats().counters.evictedForCapacity, 1);
    assert.is(full.observers('/updates'), 2, 'the evicted session\'s registration is gone');
  } finally {
    for (const endpoint of [...clients, idle, full]) await endpoint.close();
  }
});

test('a renewal that times out against a restarted server drops the dead session, so the next attempt handshakes anew and registers', async () => {
  const first = await server();
  const port = first.address().port;
  const observer = await client('node:1');
  let restarted: DtlsEndpoint | undefined;
  try {
    first.router.remove('/updates');
    first.router.add('/updates', { observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'a', maxAge: 1 }) } });
    const { observation } = await observer.observe({ uri: `coaps://${LOOPBACK}:${port}/updates`, timeoutMs: 3000, reregisterMarginMs: 100 });
    // A crash: no close_notify; the new server knows nothing of the old session.
    await first.transport.close({ closeNotify: false });
    restarted = await server({ port });
    const newServer = restarted;
    // The server counts the observer before the client has read its answer: both are waited on.
    await waitFor('the renewal registered with the restarted server', () => newServer.observers('/updates') === 1 && observation.state === 'active', 15_000);
  } finally {
    for (const endpoint of [observer, first, ...(restarted === undefined ? [] : [restarted])]) await endpoint.close();
  }
});

test.run();
