import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsContext } from '../../../src/dtls/context.js';
import type { DtlsSession } from '../../../src/dtls/session.js';
import { DtlsModule } from '../../../src/dtls/wasm-module.js';
import { ensureWasm } from '../../helpers/wasm.js';
import { connectLink, makePki, type Link } from './dtls-fixtures.js';

await ensureWasm();
// Server and clients in separate modules, so the server's heap counts only its sessions.
const serverModule = await DtlsModule.load();
const clientModule = await DtlsModule.load();
const key = Buffer.from('0123456789abcdef');

function openSessions(client: DtlsContext, server: DtlsContext, count: number, prefix: string): Link[] {
  const links: Link[] = [];
  for (let i = 0; i < count; i++) {
    const link = connectLink(client, server, `${prefix}|${i}`);
    link.flush();
    links.push(link);
  }
  return links;
}

test('200 PSK sessions opened, used and dropped (half with close_notify, half without) return the heap to its baseline, three times over', () => {
  const server = new DtlsContext(serverModule, { module: serverModule, role: 'server', mode: 'psk', pskLookup: (identity) => (identity.startsWith('node:') ? key : undefined) });
  const client = new DtlsContext(clientModule, { module: clientModule, role: 'client', mode: 'psk', psk: { identity: 'node:42', key } });
  try {
    const baseline = serverModule.heap().inUse;
    const clientBaseline = clientModule.heap().inUse;
    for (let round = 0; round < 3; round++) {
      const links = openSessions(client, server, 200, `10.1.${round}.1`);
      const refused = links.filter((link) => link.server?.state !== 'established');
      assert.is(refused.length, 0, `round ${round}: every PSK client is served`);
      assert.is(server.sessionCount, 200);
      const perSession = (serverModule.heap().inUse - baseline) / 200;
      if (round === 0) process.stdout.write(`server heap per established PSK session: ${Math.round(perSession)} bytes\n`);
      assert.ok(perSession < 16 * 1024, `at most 16 KiB per session, got ${perSession}`);
      for (const [index, link] of links.entries()) {
        link.client.send(Buffer.from(`reading ${index}`));
        link.flush();
        assert.equal(link.serverApp.map(String), [`reading ${index}`]);
        const sessions: DtlsSession[] = [link.client, link.server!];
        for (const session of sessions) {
          if (index % 2 === 0) session.close();
          else session.destroy(); // dropped without close_notify
        }
        link.flush();
      }
      assert.is(server.sessionCount, 0);
      assert.is(serverModule.heap().inUse, baseline, `round ${round}: server heap back to baseline`);
      assert.is(clientModule.heap().inUse, clientBaseline, `round ${round}: client heap back to baseline`);
      assert.is(serverModule.heapCheck(), 0, 'allocator consistent');
    }
  } finally {
    client.close();
    server.close();
  }
});

test('failed and half-open handshakes free everything too', () => {
  const server = new DtlsContext(serverModule, { module: serverModule, role: 'server', mode: 'psk', pskLookup: (identity) => (identity === 'node:1' ? key : undefined) });
  const wrongKey = new DtlsContext(clientModule, { module: clientModule, role: 'client', mode: 'psk', psk: { identity: 'node:1', key: Buffer.from('wrong') } });
  const unknown = new DtlsContext(clientModule, { module: clientModule, role: 'client', mode: 'psk', psk: { identity: 'nobody', key } });
  const right = new DtlsContext(clientModule, { module: clientModule, role: 'client', mode: 'psk', psk: { identity: 'node:1', key } });
  try {
    const baseline = serverModule.heap().inUse;
    for (let i = 0; i < 50; i++) {
      openSessions(wrongKey, server, 1, `a|${i}`);
      openSessions(unknown, server, 1, `b|${i}`);
      // Half-open: the server answered the ClientHello; the client vanishes.
      const halfOpen = connectLink(right, server, `c|${i}`);
      halfOpen.flush((direction, _datagram, index) => direction === 'toServer' && index > 1);
      halfOpen.server?.destroy();
      halfOpen.client.destroy();
    }
    assert.is(server.sessionCount, 0);
    assert.is(serverModule.heap().inUse, baseline);
    assert.is(serverModule.heapCheck(), 0);
  } finally {
    for (const context of [wrongKey, unknown, right, server]) context.close();
  }
});

test('certificate sessions return the heap to its baseline', () => {
  const pki = makePki();
  const server = new DtlsContext(serverModule, { module: serverModule, role: 'server', mode: 'certificate', certificates: { ca: pki.ca, ...pki.server } });
  const client = new DtlsContext(clientModule, { module: clientModule, role: 'client', mode: 'certificate', certificates: { ca: pki.ca, ...pki.client } });
  try {
    const baseline = serverModule.heap().inUse;
    const links = openSessions(client, server, 20, 'cert');
    assert.ok(links.every((link) => link.server?.state === 'established'));
    const perSession = (serverModule.heap().inUse - baseline) / 20;
    process.stdout.write(`server heap per established ECDHE-ECDSA session: ${Math.round(perSession)} bytes\n`);
    assert.ok(perSession < 16 * 1024, `at most 16 KiB per session, got ${perSession}`);
    for (const link of links) {
      link.client.close();
      link.flush();
      link.server?.destroy();
    }
    assert.is(serverModule.heap().inUse, baseline);
    assert.is(serverModule.heapCheck(), 0);
  } finally {
    client.close();
    server.close();
    pki.remove();
  }
});

test('the allocator stays consistent under random allocation and release', () => {
  const { exports } = clientModule;
  const before = clientModule.heap();
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const live: number[] = [];
  for (let step = 0; step < 20_000; step++) {
    if (live.length > 0 && random() < 0.48) {
      const [pointer] = live.splice(Math.floor(random() * live.length), 1);
      exports.fleet_free(pointer!);
    } else {
      const size = random() < 0.9 ? Math.floor(random() * 600) : Math.floor(random() * 20_000);
      const pointer = exports.fleet_malloc(size);
      assert.ok(pointer !== 0 && pointer % 8 === 0, 'aligned allocation');
      clientModule.bytes().fill(0xa5, pointer, pointer + size);
      live.push(pointer);
    }
    if (step % 1000 === 0) assert.is(clientModule.heapCheck(), 0, `consistent at step ${step}`);
  }
  for (const pointer of live) exports.fleet_free(pointer);
  assert.is(clientModule.heapCheck(), 0);
  assert.is(clientModule.heap().inUse, before.inUse);
  assert.is(clientModule.heap().allocations, before.allocations);
});

test('a double free aborts through the host with a typed error', async () => {
  const scratch = await DtlsModule.load();
  const pointer = scratch.exports.fleet_malloc(100);
  scratch.exports.fleet_malloc(100); // keeps the first chunk from merging into the top
  scratch.exports.fleet_free(pointer);
  assert.throws(() => scratch.exports.fleet_free(pointer), /double free/);
  assert.throws(() => scratch.assertUsable(), (error: unknown) => (error as { code?: string }).code === 'DTLS_ERR_MODULE');
});

test.run();
