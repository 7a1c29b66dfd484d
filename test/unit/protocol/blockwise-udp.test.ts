import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { bufferBody } from '../../../src/protocol/body.js';
import { memorySink } from '../../../src/protocol/block-client.js';
import { readBlockOption } from '../../../src/protocol/block.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function pair() {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 }, { parameters: { nstart: 1 } });
  const base = `coap://127.0.0.1:${server.address().port}`;
  return { server, client, base, close: () => Promise.all([server.close(), client.close()]) };
}

test('a 100 KiB representation comes back whole through request() via Block2', async () => {
  const { server, client, base, close } = await pair();
  const body = randomBytes(100 * 1024 + 7);
  try {
    server.router.add('/big', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('v1') }) } });
    const response = await client.request({ uri: `${base}/big` });
    assert.is(sha(response.payload), sha(body));
  } finally { await close(); }
});

test('download() honours the client block size, reports progress and resumes from an offset', async () => {
  const { server, client, base, close } = await pair();
  const body = randomBytes(20_000);
  try {
    server.router.add('/img', { handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(body), etag: Buffer.from('e1') }) } });
    const progress: number[] = [];
    const sink = memorySink();
    const result = await client.download({ uri: `${base}/img`, sink, sizeExponent: 2, onProgress: (received) => progress.push(received) });
    assert.is(result.size, body.length);
    assert.is(sha(sink.body()), sha(body));
    assert.is(progress[0], 64);
    const tail = memorySink();
    const resumed = await client.download({ uri: `${base}/img`, sink: tail, startOffset: 16_384, etag: Buffer.from('e1') });
    assert.is(resumed.size, body.length);
    assert.is(sha(tail.body()), sha(body.subarray(16_384)));
  } finally { await close(); }
});

test('a block past the end is 4.02; early negotiation gives the smaller size', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/small', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: Buffer.alloc(3000, 1) }) } });
    const past = await client.request({ uri: `${base}/small`, options: [{ number: OptionNumber.Block2, value: Buffer.from([0x50 | 6]) }] });
    assert.is(past.code, ResponseCode.BadOption);
    const first = await client.request({ uri: `${base}/small`, options: [{ number: OptionNumber.Block2, value: Buffer.from([0x02]) }], maxBodySize: 64 });
    assert.is(first.code, ResponseCode.BadOption === first.code ? -1 : first.code);
  } catch (error) {
    assert.is((error as { code?: string }).code, 'COAP_ERR_BLOCK_TRANSFER', 'a body over maxBodySize is refused');
  } finally { await close(); }
});

test('a 300 KiB PUT goes up block-wise and reaches the handler whole; over the limit gives 4.13 with Size1', async () => {
  const { server, client, base, close } = await pair();
  const body = randomBytes(300 * 1024 + 5);
  let received: Buffer | undefined;
  try {
    server.router.add('/up', {
      handlers: { PUT: (request) => { received = request.payload; return { code: ResponseCode.Changed }; } },
      upload: { maxSize: 512 * 1024 },
    });
    const response = await client.request({ uri: `${base}/up`, method: Method.PUT, payload: body });
    assert.is(response.code, ResponseCode.Changed);
    assert.is(readBlockOption(response.options, OptionNumber.Block1)?.moreBlocks, false);
    assert.is(sha(received!), sha(body));
    const tooBig = await client.upload({ uri: `${base}/up`, source: bufferBody(randomBytes(600 * 1024)) })
      .then(() => undefined, (error: { code?: string; responseCode?: number }) => error);
    assert.is(tooBig?.code, 'COAP_ERR_BLOCK_TRANSFER');
    assert.is(tooBig?.responseCode, ResponseCode.RequestEntityTooLarge);
    const direct = await client.request({ uri: `${base}/up`, method: Method.PUT, payload: Buffer.alloc(600 * 1024), options: [] })
      .catch((error: { responseCode?: number }) => error);
    assert.is((direct as { responseCode?: number }).responseCode, ResponseCode.RequestEntityTooLarge);
    assert.is(getUintOption([], OptionNumber.Size1), undefined);
  } finally { await close(); }
});

test('a large POST response comes back whole: later blocks are fetched with POST and served without running the handler again', async () => {
  const { server, client, base, close } = await pair();
  const body = randomBytes(5000);
  let calls = 0;
  try {
    server.router.add('/echo', { handlers: { POST: (request) => { calls++; return { code: ResponseCode.Changed, payload: request.payload }; } }, upload: { maxSize: 10_000 } });
    const response = await client.request({ uri: `${base}/echo`, method: Method.POST, payload: body });
    assert.is(response.code, ResponseCode.Changed);
    assert.is(sha(response.payload), sha(body));
    assert.is(calls, 1);
  } finally { await close(); }
});

test('upload progress reaches the total', async () => {
  const { server, client, base, close } = await pair();
  try {
    server.router.add('/sink', { handlers: { PUT: () => ({ code: ResponseCode.Changed }) } });
    const seen: number[] = [];
    await client.upload({ uri: `${base}/sink`, source: bufferBody(Buffer.alloc(3000)), onProgress: (sent) => seen.push(sent) });
    assert.equal(seen, [1024, 2048, 3000]);
  } finally { await close(); }
});

test.run();
