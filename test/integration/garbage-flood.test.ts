import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { encode } from '../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { MessageType } from '../../src/protocol/message.js';
import { stringOption, OptionNumber } from '../../src/protocol/options.js';
import { SeededRandom } from '../../src/protocol/seeded-random.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => { gc(); gc(); return process.memoryUsage().heapUsed; };

const random = new SeededRandom(2026);

/** One hostile datagram: random bytes, a truncated header, a wrong version, a token length
 * past 8, or a well-formed CON POST with a fresh message ID (to fill the dedup table; GETs
 * are not deduplicated). */
function garbage(i: number): Buffer {
  switch (i % 5) {
    case 0: return random.bytes(1 + Math.floor(random.float() * 200));
    case 1: return random.bytes(Math.floor(random.float() * 4));
    case 2: { const bytes = random.bytes(20); bytes[0] = (bytes[0]! & 0x3f) | 0x80; return bytes; }
    case 3: { const bytes = random.bytes(12); bytes[0] = 0x4c; return bytes; }
    default: return encode({
      type: MessageType.CON, code: Method.POST, messageId: i & 0xffff, token: random.bytes(4),
      options: [stringOption(OptionNumber.UriPath, `nothing-${i}`)], payload: random.bytes(32),
    });
  }
}

test('a flood of garbage leaves the server answering normal requests, its tables and heap bounded', async () => {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 }, { limits: { dedupEntries: 2000, dedupBytes: 512 * 1024 } });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const flooder = createSocket('udp4');
  try {
    server.router.add('/ok', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'fine' }) } });
    const target = server.address();
    const uri = `coap://127.0.0.1:${target.port}/ok`;
    assert.is((await client.request({ uri })).payload.toString(), 'fine');
    const before = heapAfterGc();

    const TOTAL = 60_000;
    let sent = 0;
    for (let round = 0; round < 200 && sent < TOTAL; round++) {
      // Bursts with a pause, so the socket buffer drains and the flood really reaches JS.
      for (let i = 0; i < 400; i++, sent++) flooder.send(garbage(sent), target.port, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (round % 50 === 49) assert.is((await client.request({ uri, timeoutMs: 10_000 })).payload.toString(), 'fine', 'answers during the flood');
    }
    // One socket queue, in arrival order: once a request sent after the flood is answered,
    // the server has handled every datagram of the flood that reached it.
    assert.is((await client.request({ uri, timeoutMs: 10_000 })).payload.toString(), 'fine', 'answered behind the flood');

    const sizes = server.messageLayer.sizes;
    assert.ok(sizes.dedup <= 2000, `dedup entries ${sizes.dedup} within the bound`);
    assert.ok(sizes.dedupBytes <= 512 * 1024, `dedup bytes ${sizes.dedupBytes} within the bound`);
    assert.ok(sizes.dedup > 1000, `the well-formed part of the flood reached the table (${sizes.dedup})`);
    const grown = heapAfterGc() - before;
    assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
    assert.is((await client.request({ uri })).payload.toString(), 'fine', 'answers after the flood');
  } finally {
    flooder.close();
    await Promise.all([server.close(), client.close()]);
  }
});

test.run();
