// Q-Block2 (RFC 9177) between our client and server over real DTLS sessions on loopback,
// as the daemons use it: a download in bursts, byte-identical, the transfer kept for the
// client's identity; and a resumed one.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { createDtlsEndpoint } from '../../../src/dtls/dtls-endpoint.js';
import { memorySink } from '../../../src/protocol/block-client.js';
import { bufferBody } from '../../../src/protocol/body.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ensureWasm } from '../../helpers/wasm.js';

await ensureWasm();
const LOOPBACK = '127.0.0.1';
const KEYS = new Map([['node:1', Buffer.from('secret-one')]]);
const FAST = { handshakeTimeout: { initialMs: 200, maxMs: 800 } } as const;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test('a Q-Block2 download over DTLS is byte-identical, and resumes from an offset', async () => {
  const server = await createDtlsEndpoint({ role: 'server', mode: 'psk', pskLookup: (identity) => KEYS.get(identity), host: LOOPBACK, port: 0, ...FAST });
  const client = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEYS.get('node:1')! }, host: LOOPBACK, port: 0, ...FAST });
  const body = randomBytes(300 * 1024 + 17);
  server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('img') }) } });
  try {
    const uri = `coaps://${LOOPBACK}:${server.address().port}/image`;
    const sink = memorySink();
    const result = await client.download({ uri, sink, qblock: {}, timeoutMs: 10_000 });
    assert.is(result.size, body.length);
    assert.is(sha256(sink.body()), sha256(body));
    const stats = server.qblock2Stats();
    assert.equal({ transfers: stats.transfers, peers: stats.peers }, { transfers: 1, peers: 1 }, 'the download went by Q-Block2');
    const rest = memorySink();
    const resumed = await client.download({ uri, sink: rest, qblock: {}, startOffset: 200 * 1024, etag: Buffer.from('img'), timeoutMs: 10_000 });
    assert.is(resumed.size, body.length);
    assert.is(sha256(rest.body()), sha256(body.subarray(200 * 1024)));
  } finally {
    await client.close();
    await server.close();
  }
  assert.is(server.qblock2Stats().transfers, 0, 'nothing kept after close');
});


test('the per-peer bound of Q-Block2 transfers counts an identity across its sessions', async () => {
  const server = await createDtlsEndpoint({
    role: 'server', mode: 'psk', pskLookup: (identity) => KEYS.get(identity), host: LOOPBACK, port: 0, ...FAST,
    endpoint: { qblock2: { transfersPerPeer: 1 } },
  });
  const sessions = await Promise.all([0, 1].map(() => createDtlsEndpoint({
    role: 'client', mode: 'psk', psk: { identity: 'node:1', key: KEYS.get('node:1')! }, host: LOOPBACK, port: 0, ...FAST,
  })));
  const payload = randomBytes(20 * 1024);
  server.router.add('/r/{n}', { handlers: { GET: () => ({ code: ResponseCode.Content, payload }) } });
  try {
    for (const [index, session] of sessions.entries()) {
      const sink = memorySink();
      await session.download({ uri: `coaps://${LOOPBACK}:${server.address().port}/r/${index}`, sink, qblock: {}, timeoutMs: 10_000 });
      assert.is(sha256(sink.body()), sha256(payload));
    }
    assert.equal(server.qblock2Stats(), { transfers: 1, peers: 1, bytesHeld: payload.length, sending: 0 }, 'node:1 keeps one transfer over two sessions');
  } finally {
    for (const endpoint of [...sessions, server]) await endpoint.close();
  }
});

test.run();
