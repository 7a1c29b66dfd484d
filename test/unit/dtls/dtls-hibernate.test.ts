// Hibernation of idle DTLS sessions (issue 14): an established session's module state
// saved as a blob (mbedtls_ssl_context_save) and its context freed, loaded back on the next
// record, send or close. Real wasm throughout: session pairs joined in memory for the
// record-level checks (a record during hibernation, replays before and after, close), and
// our endpoints on loopback sockets for the transport (the sweep, wake on a request, the
// session bound counting hibernated sessions).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint, type DtlsEndpoint } from '../../../src/dtls/dtls-endpoint.js';
import { DtlsContext } from '../../../src/dtls/context.js';
import { DtlsError } from '../../../src/dtls/errors.js';
import type { DtlsSession } from '../../../src/dtls/session.js';
import { checkLimits, DEFAULT_DTLS_LIMITS } from '../../../src/dtls/transport-options.js';
import { DtlsModule } from '../../../src/dtls/wasm-module.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ensureWasm } from '../../helpers/wasm.js';
import { waitFor } from '../../helpers/wait.js';

await ensureWasm();
const LOOPBACK = '127.0.0.1';
const KEY = Buffer.from('hibernation-key');

interface Pair {
  readonly serverModule: DtlsModule;
  readonly client: DtlsSession;
  readonly server: DtlsSession;
  /** Datagrams each side sent and the other has not read yet. */
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
  close(): void;
}

/** A PSK client and server session on modules of their own, handshaken in memory. */
async function pair(): Promise<Pair> {
  const serverModule = await DtlsModule.load();
  const serverContext = new DtlsContext(serverModule, { role: 'server', mode: 'psk', pskLookup: () => KEY, connectionIdLength: 8 });
  const clientContext = new DtlsContext(await DtlsModule.load(), { role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEY }, connectionIdLength: 0 });
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const client = clientContext.connect({ onSend: (datagram) => toServer.push(datagram) });
  let server: DtlsSession | undefined;
  for (let flight = 0; flight < 10 && !(client.state === 'established' && server?.state === 'established'); flight++) {
    for (const datagram of toServer.splice(0)) {
      if (server !== undefined) {
        server.receive(datagram);
        continue;
      }
      const result = serverContext.accept(datagram, 'peer-1', { onSend: (reply) => toClient.push(reply) });
      if (result.kind === 'verify') toClient.push(result.reply);
      if (result.kind === 'session') server = result.session;
    }
    for (const datagram of toClient.splice(0)) client.receive(datagram);
  }
  assert.is(client.state, 'established');
  assert.is(server?.state, 'established');
  // Until a record of the new epoch comes from the client, the server keeps its last flight
  // to retransmit (RFC 6347 §4.2.4): nothing to serialize yet.
  assert.not.ok(server!.hibernate());
  client.send(Buffer.from('hello'));
  assert.equal(texts(server!.receive(toServer.pop()!).app), ['hello']);
  return {
    serverModule, client, server: server!, toServer, toClient,
    close: () => { clientContext.close(); serverContext.close(); },
  };
}

/** The client's record carrying `text`, as the server would receive it. */
function record(p: Pair, text: string): Buffer {
  p.client.send(Buffer.from(text));
  assert.is(p.toServer.length, 1);
  return p.toServer.pop()!;
}

const texts = (app: readonly Buffer[]): string[] => app.map((data) => data.toString('utf8'));

test('hibernation frees the session context for a blob of a few hundred bytes, and a record sent meanwhile is read after the load', async () => {
  const p = await pair();
  try {
    const awake = p.serverModule.heap().inUse;
    assert.ok(p.server.hibernate());
    assert.ok(p.server.hibernated);
    assert.is(p.server.state, 'established');
    const blob = p.server.hibernatedBytes;
    assert.ok(blob > 0 && blob < 512, `blob of ${blob} bytes`);
    const freed = awake - p.serverModule.heap().inUse;
    assert.ok(freed > 8000, `only ${freed} bytes of module heap freed`);
    assert.equal(texts(p.server.receive(record(p, 'while asleep')).app), ['while asleep']);
    assert.not.ok(p.server.hibernated);
    assert.is(p.serverModule.heapCheck(), 0);
    // Both directions go on from where they were: the server's write sequence number too.
    for (let round = 0; round < 3; round++) {
      assert.ok(p.server.hibernate());
      p.server.send(Buffer.from(`reply ${round}`));
      assert.equal(texts(p.client.receive(p.toClient.pop()!).app), [`reply ${round}`]);
    }
  } finally {
    p.close();
  }
});

test('the replay window survives hibernation: records seen before are dropped after the load and while hibernated', async () => {
  const p = await pair();
  try {
    const first = record(p, 'first');
    assert.equal(texts(p.server.receive(first).app), ['first']);
    assert.ok(p.server.hibernate());
    assert.equal(texts(p.server.receive(first).app), [], 'a replay of a record read before hibernation');
    assert.is(p.server.state, 'established');
    const second = record(p, 'second');
    assert.equal(texts(p.server.receive(second).app), ['second']);
    assert.ok(p.server.hibernate());
    assert.equal(texts(p.server.receive(second).app), [], 'a replay arriving while hibernated');
    assert.equal(texts(p.server.receive(record(p, 'third')).app), ['third']);
  } finally {
    p.close();
  }
});

test('close from hibernation sends a close_notify the peer reads; destroy just drops the blob', async () => {
  const p = await pair();
  try {
    assert.ok(p.server.hibernate());
    p.server.close();
    assert.is(p.server.state, 'closed');
    assert.is(p.toClient.length, 1);
    p.client.receive(p.toClient.pop()!);
    assert.is(p.client.state, 'closed');
    assert.is(p.client.closeReason, 'peer');
  } finally {
    p.close();
  }
  const q = await pair();
  try {
    const before = q.serverModule.heap().allocations;
    assert.ok(q.server.hibernate());
    q.server.destroy();
    assert.is(q.server.state, 'closed');
    assert.not.ok(q.server.hibernated);
    assert.ok(q.serverModule.heap().allocations < before);
    assert.equal(texts(q.server.receive(record(q, 'late')).app), []);
  } finally {
    q.close();
  }
});

test('only an established session hibernates', async () => {
  const context = new DtlsContext(await DtlsModule.load(), { role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEY } });
  try {
    const session = context.connect();
    assert.is(session.state, 'handshaking');
    assert.not.ok(session.hibernate());
    assert.not.ok(session.hibernated);
  } finally {
    context.close();
  }
});

test('limits.hibernateAfterMs is 0 (never) or more', () => {
  assert.throws(() => checkLimits({ ...DEFAULT_DTLS_LIMITS, hibernateAfterMs: -1 }), (error: unknown) => error instanceof DtlsError && error.code === 'DTLS_ERR_CONFIG');
  assert.is(checkLimits({ ...DEFAULT_DTLS_LIMITS, hibernateAfterMs: 0 }).hibernateAfterMs, 0);
});

// ---- the transport, on loopback sockets ----------------------------------------------

async function server(limits: Record<string, number>): Promise<{ endpoint: DtlsEndpoint; module: DtlsModule }> {
  const module = await DtlsModule.load();
  const endpoint = await createDtlsEndpoint({
    role: 'server', mode: 'psk', module, host: LOOPBACK, port: 0, limits,
    pskLookup: (identity) => (identity.startsWith('node:') ? KEY : undefined),
  });
  endpoint.router.add('/who', { handlers: { GET: (request) => ({ code: ResponseCode.Content, payload: `hello ${request.peer.identity ?? 'nobody'}` }) } });
  return { endpoint, module };
}

const client = (identity: string): Promise<DtlsEndpoint> =>
  createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key: KEY }, host: LOOPBACK, port: 0 });

test('an idle session hibernates after hibernateAfterMs and wakes for the next request', async () => {
  const { endpoint, module } = await server({ hibernateAfterMs: 100 });
  const node = await client('node:1');
  const uri = `coaps://${LOOPBACK}:${endpoint.address().port}/who`;
  try {
    assert.is((await node.request({ uri, timeoutMs: 5000 })).payload.toString(), 'hello node:1');
    const awake = module.heap().inUse;
    await waitFor('the session to hibernate', () => endpoint.transport.stats().hibernated === 1);
    assert.ok(awake - module.heap().inUse > 8000, 'the context was freed');
    for (let round = 0; round < 2; round++) {
      assert.is((await node.request({ uri, timeoutMs: 5000 })).payload.toString(), 'hello node:1');
      await waitFor('the session to hibernate again', () => endpoint.transport.stats().hibernated === 1);
    }
    const stats = endpoint.transport.stats();
    assert.is(stats.sessions, 1);
    assert.is(stats.counters.handshakes, 1, 'one handshake: every request after it woke the same session');
    assert.is(module.heapCheck(), 0);
  } finally {
    await node.close();
    await endpoint.close();
  }
});

test('hibernated sessions count against the session bound: the least recently active one goes', async () => {
  const { endpoint } = await server({ hibernateAfterMs: 50, sessions: 2 });
  const uri = `coaps://${LOOPBACK}:${endpoint.address().port}/who`;
  const nodes: DtlsEndpoint[] = [];
  try {
    for (const identity of ['node:1', 'node:2']) {
      const node = await client(identity);
      nodes.push(node);
      assert.is((await node.request({ uri, timeoutMs: 5000 })).payload.toString(), `hello ${identity}`);
    }
    await waitFor('both sessions to hibernate', () => endpoint.transport.stats().hibernated === 2);
    const third = await client('node:3');
    nodes.push(third);
    assert.is((await third.request({ uri, timeoutMs: 5000 })).payload.toString(), 'hello node:3');
    const stats = endpoint.transport.stats();
    assert.is(stats.sessions, 2);
    assert.is(stats.counters.evictedForCapacity, 1);
    // node:1 was the least recently active: its session is gone, node:2's is still there.
    const identities = nodes.map((node) => endpoint.transport.identityOf({ address: LOOPBACK, port: node.address().port }));
    assert.equal(identities, [undefined, 'node:2', 'node:3']);
  } finally {
    for (const node of nodes) await node.close();
    await endpoint.close();
  }
});

test.run();
