import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsContext, type DtlsContextOptions } from '../../../src/dtls/context.js';
import { pskKeyFromHex } from '../../../src/dtls/credentials.js';
import { DtlsError } from '../../../src/dtls/errors.js';
import { DtlsModule } from '../../../src/dtls/wasm-module.js';
import { ensureWasm } from '../../helpers/wasm.js';
import { connectLink } from './dtls-fixtures.js';

await ensureWasm();
const module = await DtlsModule.load();

const keys = new Map([['node:1', pskKeyFromHex('00112233445566778899aabbccddeeff')], ['operator:ann', Buffer.from('another shared secret')]]);
const lookups: string[] = [];
const serverOptions = (extra: Partial<DtlsContextOptions> = {}): DtlsContextOptions => ({
  module, role: 'server', mode: 'psk', pskLookup: (identity) => { lookups.push(identity); return keys.get(identity); }, ...extra,
});
const clientOptions = (identity: string, key: Buffer, extra: Partial<DtlsContextOptions> = {}): DtlsContextOptions => ({
  module, role: 'client', mode: 'psk', psk: { identity, key }, ...extra,
});

test('a PSK handshake (cookie exchange first) establishes both sides, app data flows both ways', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is(link.verifies, 1, 'the first ClientHello is answered with a HelloVerifyRequest');
    assert.is(link.client.state, 'established');
    assert.is(link.server?.state, 'established');
    assert.is(link.server?.identity, 'node:1', 'the server learns the PSK identity');
    assert.is(link.client.identity, 'node:1');
    link.client.send(Buffer.from('GET /health'));
    link.server!.send(Buffer.from('2.05 ok'));
    link.server!.send(Buffer.from('second record'));
    link.flush();
    assert.equal(link.serverApp.map(String), ['GET /health']);
    assert.equal(link.clientApp.map(String), ['2.05 ok', 'second record']);
    assert.ok(link.client.maxPayload >= 1024, `max payload ${link.client.maxPayload}`);
    const big = Buffer.alloc(link.client.maxPayload, 7);
    link.client.send(big);
    link.flush();
    assert.ok(link.serverApp.at(-1)!.equals(big), 'a full-size record arrives whole');
  } finally {
    client.close();
    server.close();
  }
});

test('a wrong PSK fails both sides with DTLS_ERR_BAD_PSK, and the server keeps serving', () => {
  const server = new DtlsContext(module, serverOptions());
  const wrong = new DtlsContext(module, clientOptions('node:1', pskKeyFromHex('00112233445566778899aabbccddee00')));
  const right = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  try {
    const bad = connectLink(wrong, server, '127.0.0.1|40001');
    bad.flush();
    assert.is(bad.server?.state, 'failed');
    assert.instance(bad.server?.error, DtlsError);
    assert.is(bad.server?.error?.code, 'DTLS_ERR_BAD_PSK');
    assert.is(bad.client.state, 'failed');
    assert.is(bad.client.error?.code, 'DTLS_ERR_BAD_PSK');
    assert.is(bad.client.error?.byPeer, true, 'the client learns it from the bad_record_mac alert');
    assert.is(bad.server?.identity, undefined, 'no identity for a failed handshake');
    assert.is(server.sessionCount, 0, 'the failed session was released');
    const good = connectLink(right, server, '127.0.0.1|40002');
    good.flush();
    assert.is(good.server?.state, 'established');
  } finally {
    for (const context of [wrong, right, server]) context.close();
  }
});

test('an unknown identity fails with DTLS_ERR_UNKNOWN_PSK_IDENTITY on both sides; a throwing lookup counts as unknown', () => {
  const server = new DtlsContext(module, serverOptions());
  const throwing = new DtlsContext(module, { module, role: 'server', mode: 'psk', pskLookup: () => { throw new Error('store down'); } });
  const stranger = new DtlsContext(module, clientOptions('node:999', Buffer.from('whatever')));
  try {
    lookups.length = 0;
    const link = connectLink(stranger, server);
    link.flush();
    assert.equal(lookups, ['node:999'], 'the lookup saw the identity once');
    assert.is(link.server?.error?.code, 'DTLS_ERR_UNKNOWN_PSK_IDENTITY');
    assert.is(link.client.error?.code, 'DTLS_ERR_UNKNOWN_PSK_IDENTITY');
    assert.is(link.client.error?.alert, 115);
    const second = connectLink(stranger, throwing);
    second.flush();
    assert.is(second.server?.error?.code, 'DTLS_ERR_UNKNOWN_PSK_IDENTITY');
    const friend = new DtlsContext(module, clientOptions('operator:ann', keys.get('operator:ann')!));
    const good = connectLink(friend, server, '127.0.0.1|40003');
    good.flush();
    assert.is(good.server?.identity, 'operator:ann', 'the server still serves known identities');
    friend.close();
  } finally {
    for (const context of [stranger, server, throwing]) context.close();
  }
});

test('a lost flight is retransmitted when the caller fires the timer; the handshake then completes', () => {
  let now = 1000;
  const clock = (): number => now;
  const server = new DtlsContext(module, serverOptions({ clock, handshakeTimeout: { initialMs: 100, maxMs: 1600 } }));
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!, { clock, handshakeTimeout: { initialMs: 100, maxMs: 1600 } }));
  try {
    const link = connectLink(client, server);
    assert.is(link.client.nextTimeoutMs(), 100, 'the ClientHello arms the first retransmission timer');
    // Lose the server's first flight after the cookie exchange (ServerHello..ServerHelloDone).
    link.flush((direction, _datagram, index) => direction === 'toClient' && index === 1);
    assert.is(link.client.state, 'handshaking');
    assert.is(link.server?.state, 'handshaking');
    const before = link.counts.toServer;
    link.client.onTimer();
    assert.is(link.counts.toServer + link.inFlight.toServer.length, before, 'an early onTimer does nothing');
    now += link.client.nextTimeoutMs()!;
    link.client.onTimer();
    assert.ok(link.inFlight.toServer.length > 0, 'the client retransmitted its ClientHello');
    assert.is(link.client.nextTimeoutMs(), 200, 'the retransmission timeout doubled (RFC 6347 §4.2.4.1)');
    link.flush();
    assert.is(link.client.state, 'established');
    assert.is(link.server?.state, 'established');
    assert.is(link.client.nextTimeoutMs(), undefined, 'no timer runs once established');
  } finally {
    client.close();
    server.close();
  }
});

test('without any answer the handshake fails with DTLS_ERR_HANDSHAKE_TIMEOUT after the maximum timeout', () => {
  let now = 0;
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!, { clock: () => now, handshakeTimeout: { initialMs: 100, maxMs: 400 } }));
  const changes: string[] = [];
  try {
    const session = client.connect({ onStateChange: (from, to) => changes.push(`${from}->${to}`) });
    let sent = session.outgoing().length;
    for (let i = 0; i < 10 && session.state === 'handshaking'; i++) {
      now += session.nextTimeoutMs()!;
      session.onTimer();
      sent += session.outgoing().length;
    }
    assert.is(session.state, 'failed');
    assert.is(session.error?.code, 'DTLS_ERR_HANDSHAKE_TIMEOUT');
    assert.is(sent, 3, 'ClientHello at 0, 100 and 300 ms, failure at 700 ms');
    assert.is(now, 700);
    assert.equal(changes, ['handshaking->failed']);
    assert.is(client.sessionCount, 0);
  } finally {
    client.close();
  }
});

test('close() sends close_notify: the peer moves to closed; closed sessions refuse to send', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  try {
    const link = connectLink(client, server);
    link.flush();
    link.client.close();
    assert.is(link.client.state, 'closed');
    assert.is(link.client.closeReason, 'local');
    link.flush();
    assert.is(link.server?.state, 'closed');
    assert.is(link.server?.closeReason, 'peer');
    assert.throws(() => link.client.send(Buffer.from('late')), (error: unknown) => error instanceof DtlsError && error.code === 'DTLS_ERR_NOT_ESTABLISHED');
    assert.equal(link.client.receive(Buffer.from('anything')).app, [], 'a closed session ignores datagrams');
    assert.throws(() => link.client.transition('established'), /illegal DTLS session transition closed -> established/);
  } finally {
    client.close();
    server.close();
  }
});

test('transition() refuses moves the state machine lacks, and established before the handshake is over', () => {
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  try {
    const session = client.connect();
    assert.throws(() => session.transition('established'), /the handshake is not over/);
    assert.throws(() => session.transition('handshaking'), /illegal DTLS session transition handshaking -> handshaking/);
    assert.is(session.state, 'handshaking');
    session.close();
    assert.throws(() => session.transition('failed'), /illegal DTLS session transition closed -> failed/);
  } finally {
    client.close();
  }
});

test('a PSK lookup that calls back into the module is refused and counts as an unknown identity', () => {
  let inner: unknown;
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  const server = new DtlsContext(module, { module, role: 'server', mode: 'psk', pskLookup: () => {
    try {
      client.connect();
    } catch (error) {
      inner = error;
      throw error;
    }
    return keys.get('node:1');
  } });
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is((inner as DtlsError | undefined)?.code, 'DTLS_ERR_MODULE');
    assert.is(link.server?.error?.code, 'DTLS_ERR_UNKNOWN_PSK_IDENTITY');
  } finally {
    client.close();
    server.close();
  }
});

test('the listener keeps no state for ClientHellos without a valid cookie, and drops garbage', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  try {
    const hello = client.connect().outgoing()[0]!;
    const heapBefore = module.heap().inUse;
    for (let port = 1; port <= 500; port++) {
      const result = server.accept(hello, `10.0.0.1|${port}`);
      assert.is(result.kind, 'verify');
    }
    assert.is(server.sessionCount, 0);
    assert.is(module.heap().inUse, heapBefore, 'a ClientHello flood allocates nothing');
    for (let i = 0; i < 200; i++) {
      const garbage = Buffer.alloc(1 + (i * 37) % 300, i);
      assert.is(server.accept(garbage, '10.0.0.2|1').kind, 'drop');
    }
    // A cookie is bound to the address it was given to (RFC 6347 §4.2.1).
    const link = connectLink(client, server, '10.0.0.3|5');
    link.flush();
    assert.is(link.server?.state, 'established');
  } finally {
    client.close();
    server.close();
  }
});

test('forged, corrupted and replayed records are dropped without harming an established session', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  try {
    const link = connectLink(client, server);
    link.flush();
    link.client.send(Buffer.from('once'));
    const [record] = link.inFlight.toServer.splice(0);
    assert.ok(record);
    assert.equal(link.server!.receive(record).app.map(String), ['once']);
    assert.equal(link.server!.receive(record).app, [], 'a replayed record is dropped (RFC 6347 §4.1.2.6)');
    for (let bit = 0; bit < record.length * 8; bit += 7) {
      const flipped = Buffer.from(record);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(link.server!.receive(flipped).app, []);
    }
    for (let i = 0; i < 100; i++) link.server!.receive(Buffer.alloc(13 + i, i));
    assert.is(link.server!.state, 'established');
    link.client.send(Buffer.from('still here'));
    link.flush();
    assert.equal(link.serverApp.map(String), ['still here']);
  } finally {
    client.close();
    server.close();
  }
});

test('a client reconnecting from the same address closes the old session and gets a new one', () => {
  const server = new DtlsContext(module, serverOptions());
  const first = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!));
  const second = new DtlsContext(module, clientOptions('operator:ann', keys.get('operator:ann')!));
  try {
    const link = connectLink(first, server, '10.0.0.9|7000');
    link.flush();
    const old = link.server!;
    assert.is(old.identity, 'node:1');
    // A new client (a rebooted device) on the same address and port: its ClientHello reaches
    // the old session, which answers the cookie exchange itself (RFC 6347 §4.2.8).
    let current = old;
    let reconnected = false;
    const toServer = (datagram: Buffer): Buffer[] => {
      if (current.state === 'established' || current.state === 'handshaking') {
        const result = current.receive(datagram);
        // The old session sends through the link's onSend; new ones queue for outgoing().
        if (result.reconnect !== true) return current === old ? link.inFlight.toClient.splice(0) : current.outgoing();
        reconnected = true;
      }
      const accepted = server.accept(datagram, '10.0.0.9|7000');
      if (accepted.kind === 'verify') return [accepted.reply];
      if (accepted.kind === 'drop') return [];
      current = accepted.session;
      return current.outgoing();
    };
    const again = second.connect();
    for (let round = 0; round < 10 && again.state === 'handshaking'; round++) {
      for (const datagram of again.outgoing()) for (const reply of toServer(datagram)) again.receive(reply);
    }
    assert.ok(reconnected, 'the old session reported the reconnect');
    assert.is(old.state, 'closed');
    assert.is(old.closeReason, 'reconnect');
    assert.is.not(current, old);
    assert.is(current.identity, 'operator:ann');
    assert.is(again.state, 'established');
  } finally {
    for (const context of [first, second, server]) context.close();
  }
});

test('connection IDs (RFC 9146) are negotiated between our peers and carried by records', () => {
  const server = new DtlsContext(module, serverOptions({ connectionIdLength: 4 }));
  const client = new DtlsContext(module, clientOptions('node:1', keys.get('node:1')!, { connectionIdLength: 0 }));
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is(link.client.state, 'established');
    const serverCid = link.server!.connectionId;
    assert.ok(serverCid);
    assert.is(serverCid.own.length, 4, 'the server asked for a 4-byte CID');
    assert.is(link.client.connectionId?.peerLength, 4, 'the client uses it');
    link.client.send(Buffer.from('with cid'));
    const [record] = link.inFlight.toServer;
    assert.is(record![0], 25, 'content type tls12_cid');
    assert.ok(record!.subarray(11, 15).equals(serverCid.own), 'the CID follows epoch and sequence number');
    link.flush();
    assert.equal(link.serverApp.map(String), ['with cid']);
  } finally {
    client.close();
    server.close();
  }
});

test('bad configurations fail with DTLS_ERR_CONFIG', () => {
  const config = (options: DtlsContextOptions) => () => new DtlsContext(module, options);
  const isConfig = (error: unknown): boolean => error instanceof DtlsError && error.code === 'DTLS_ERR_CONFIG';
  assert.throws(config({ module, role: 'server', mode: 'psk' }), isConfig);
  assert.throws(config({ module, role: 'client', mode: 'psk' }), isConfig);
  assert.throws(config(clientOptions('', Buffer.from('k'))), isConfig);
  assert.throws(config(clientOptions('id', Buffer.alloc(65))), isConfig);
  assert.throws(() => pskKeyFromHex('abc'), isConfig);
  assert.throws(config({ module, role: 'client', mode: 'certificate', certificates: { ca: 'not pem' } }), isConfig);
  assert.throws(config({ module, role: 'server', mode: 'certificate', certificates: { ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } }), isConfig);
  assert.throws(config({ module, role: 'client', mode: 'certificate', certificates: { ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } }), isConfig);
  const client = new DtlsContext(module, clientOptions('id', Buffer.from('k')));
  assert.throws(() => client.accept(Buffer.alloc(10), 'x'), isConfig);
  client.close();
});

test.run();
