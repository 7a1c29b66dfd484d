// Q-Block2 (RFC 9177) negotiation against libcoap 4.3.1, which has none: our client asks
// coap-server with Q-Block2, gets 4.02 (an unrecognised critical option) and downloads
// 1 MiB with Block2, byte-identical, and starts its next download with Block2; coap-client
// downloads 1 MiB from our server (Q-Block2 on) with plain Block2. Processes run with a
// time limit and are killed in `finally`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { memorySink } from '../../src/protocol/block-client.js';
import { bufferBody } from '../../src/protocol/body.js';
import { decode } from '../../src/protocol/codec.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { hasOption, OptionNumber } from '../../src/protocol/options.js';
import { UdpTransport } from '../../src/protocol/transport-udp.js';
import type { Transport } from '../../src/protocol/interfaces.js';
import type { Message } from '../../src/protocol/message.js';
import { recordingLogger } from '../helpers/peers.js';
import { withDynamicLibcoapServer } from '../helpers/libcoap-server.js';

const CLIENT = 'coap-client-notls';
const LOOPBACK = '127.0.0.1';
const INSTALL_HINT = 'apt-get install libcoap3-bin';
const MIB = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 20_000;
const CLIENT_WAIT_SECONDS = 20;
const EXEC_TIMEOUT_MS = 60_000;

const run = promisify(execFile);
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A UDP transport that also records the requests it sends. */
async function recordingUdp(sent: Message[]): Promise<Transport> {
  const inner = await UdpTransport.bind({ host: LOOPBACK, port: 0 });
  return {
    scheme: inner.scheme,
    address: () => inner.address(),
    send: (data, peer) => {
      const message = decode(data);
      if (message.code >= 1 && message.code <= 31) sent.push(message);
      inner.send(data, peer);
    },
    onDatagram: (handler) => inner.onDatagram(handler),
    close: () => inner.close(),
  };
}

test('our client asks coap-server with Q-Block2, falls back to Block2 on 4.02, downloads 1 MiB byte-identical, and starts the next with Block2', async () => {
  const logger = recordingLogger();
  const sent: Message[] = [];
  const client = new Endpoint({ transport: await recordingUdp(sent), logger });
  try {
    await withDynamicLibcoapServer(client, async (base) => {
      const body = randomBytes(MIB);
      const uri = `${base}/qblock-blob`;
      const put = await client.upload({ uri, source: bufferBody(body), timeoutMs: REQUEST_TIMEOUT_MS });
      assert.is(put.code, ResponseCode.Created);
      const asked = (): number => sent.filter((message) => hasOption(message.options, OptionNumber.QBlock2)).length;
      for (const round of [1, 2]) {
        const sink = memorySink();
        const result = await client.download({ uri, sink, qblock: {}, timeoutMs: REQUEST_TIMEOUT_MS });
        assert.is(result.size, body.length, `download ${round}: the whole size`);
        assert.is(sha256(sink.body()), sha256(body), `download ${round}: the same bytes`);
        assert.is(asked(), 1, `download ${round}: one request with Q-Block2 in all, the first download's first`);
      }
    });
  } finally {
    await client.close();
  }
  assert.equal(logger.problems, [], 'the client logged no warning or error');
});

test('coap-client downloads 1 MiB from our server, Q-Block2 on, with Block2; the server keeps no Q-Block2 transfer', async () => {
  const logger = recordingLogger();
  const server = await Endpoint.udp({ host: LOOPBACK, port: 0 }, { logger });
  const body = randomBytes(MIB);
  server.router.add('/image', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('img-1') }) } });
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-qblock-'));
  try {
    const file = join(dir, 'image');
    try {
      await run(CLIENT, ['-B', String(CLIENT_WAIT_SECONDS), '-b', '1024', '-o', file, `coap://${LOOPBACK}:${server.address().port}/image`], {
        timeout: EXEC_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 16 * MIB,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${CLIENT} is not installed: ${INSTALL_HINT}`);
      throw error;
    }
    const received = await readFile(file);
    assert.is(received.length, body.length);
    assert.is(sha256(received), sha256(body));
    assert.is(server.qblock2Stats().transfers, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await server.close();
  }
  assert.equal(logger.problems, [], 'the server logged no warning or error');
});

test.run();
