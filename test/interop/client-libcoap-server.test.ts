// Our client (an Endpoint on loopback) against libcoap's coap-server example: piggybacked
// and NON responses, PUT then GET of stored data, a separate response from its /async
// resource (RFC 7252 §5.2.2), 4.04 and discovery (RFC 6690). Each server process is
// started on a free port and killed in `finally`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { parseLinks } from '../../src/protocol/link-format.js';
import { MessageType } from '../../src/protocol/message.js';
import { getUintOption, OptionNumber } from '../../src/protocol/options.js';
import { freePort, recordingLogger, stopProcess } from '../helpers/peers.js';

const SERVER = 'coap-server-notls';
const LOOPBACK = '127.0.0.1';
/** Readiness: short requests until one is answered, at most this many. */
const READY_ATTEMPTS = 50;
const READY_REQUEST_MS = 200;
const REQUEST_TIMEOUT_MS = 10_000;
/** Bytes of the server's output kept for failure messages. */
const OUTPUT_KEPT = 4096;

/** A port nobody uses right now: bound, read and released. The server binds it next. */

interface LibcoapServer {
  readonly base: string;
  output(): string;
  stop(): Promise<void>;
}


/** Starts coap-server on a free loopback port and waits until it answers. */
async function startLibcoapServer(client: Endpoint): Promise<LibcoapServer> {
  const port = await freePort();
  const child = spawn(SERVER, ['-A', LOOPBACK, '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let failure: Error | undefined;
  child.once('error', (error: NodeJS.ErrnoException) => {
    failure = error.code === 'ENOENT' ? new Error(`${SERVER} is not installed: apt-get install libcoap3-bin`) : error;
  });
  const server: LibcoapServer = { base: `coap://${LOOPBACK}:${port}`, output: () => output, stop: () => stopProcess(child) };
  try {
    for (let attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
      if (failure !== undefined) throw failure;
      if (child.exitCode !== null) throw new Error(`${SERVER} exited with ${child.exitCode}: ${output}`);
      try {
        await client.request({ uri: `${server.base}/time`, confirmable: false, timeoutMs: READY_REQUEST_MS });
        return server;
      } catch {
        // Not listening yet: the request timed out. Try again.
      }
    }
    throw failure ?? new Error(`${SERVER} did not answer within ${READY_ATTEMPTS} attempts: ${output}`);
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Fails the test on any warn or error our client logs: interop must be clean. */

async function withLibcoapServer(body: (client: Endpoint, base: string) => Promise<void>): Promise<void> {
  const logger = recordingLogger();
  const client = await Endpoint.udp({ host: LOOPBACK, port: 0 }, { logger });
  let server: LibcoapServer | undefined;
  try {
    server = await startLibcoapServer(client);
    await body(client, server.base);
  } catch (error) {
    const output = server?.output() ?? '';
    if (output !== '' && error instanceof Error) error.message += `\n${SERVER} output: ${output}`;
    throw error;
  } finally {
    await server?.stop();
    await client.close();
  }
  assert.equal(logger.problems, [], 'the client logged no warning or error');
  assert.is(client.openExchanges, 0, 'no exchange left open');
}

// libcoap's /time answers like "Nov 29 02:32:19" (strftime "%b %d %H:%M:%S").
const TIME = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/;

test('CON GET /time gets a piggybacked 2.05 with the time and Max-Age', () => withLibcoapServer(async (client, base) => {
  const response = await client.request({ uri: `${base}/time`, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(response.code, ResponseCode.Content);
  assert.is(response.type, MessageType.ACK);
  assert.match(response.payload.toString('utf8'), TIME);
  assert.ok(getUintOption(response.options, OptionNumber.MaxAge) !== undefined, 'libcoap sets Max-Age on /time');
}));

test('NON GET /time gets a NON 2.05', () => withLibcoapServer(async (client, base) => {
  const response = await client.request({ uri: `${base}/time`, confirmable: false, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(response.code, ResponseCode.Content);
  assert.is(response.type, MessageType.NON);
  assert.match(response.payload.toString('utf8'), TIME);
}));

test('PUT /example_data then GET returns what was put, with its Content-Format', () => withLibcoapServer(async (client, base) => {
  // JSON rather than text/plain: libcoap leaves Content-Format out when it is 0.
  const document = '{"fleet":"coap-fleet was here"}';
  const put = await client.request({
    uri: `${base}/example_data`, method: Method.PUT, payload: document, contentFormat: ContentFormat.Json,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  assert.ok(put.code === ResponseCode.Created || put.code === ResponseCode.Changed, `PUT answered ${put.code}`);
  const get = await client.request({ uri: `${base}/example_data`, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(get.code, ResponseCode.Content);
  assert.is(get.payload.toString('utf8'), document);
  assert.is(get.contentFormat, ContentFormat.Json);
}));

test('GET /async?1 is answered by a separate CON 2.05 after the empty ACK', () => withLibcoapServer(async (client, base) => {
  // libcoap's /async answers after the number of seconds in its query (coap-server.c).
  const response = await client.request({ uri: `${base}/async?1`, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(response.code, ResponseCode.Content);
  assert.is(response.type, MessageType.CON, 'a separate response, not piggybacked');
  assert.is(response.payload.toString('utf8'), 'done');
}));

test('an unknown path is 4.04', () => withLibcoapServer(async (client, base) => {
  const response = await client.request({ uri: `${base}/no/such/resource`, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(response.code, ResponseCode.NotFound);
}));

test('/.well-known/core parses as link format and lists /time with rt="ticks" and obs', () => withLibcoapServer(async (client, base) => {
  const response = await client.request({ uri: `${base}/.well-known/core`, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(response.code, ResponseCode.Content);
  assert.is(response.contentFormat, ContentFormat.LinkFormat);
  const time = parseLinks(response.payload.toString('utf8')).find((link) => link.target === '/time');
  assert.ok(time !== undefined, 'lists /time');
  assert.equal(time!.attributes.find((attribute) => attribute.name === 'rt'), { name: 'rt', value: 'ticks' });
  assert.ok(time!.attributes.some((attribute) => attribute.name === 'obs'));
}));

test.run();
