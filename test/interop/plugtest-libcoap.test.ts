// libcoap's coap-client against our plugtest server on loopback: message types, methods and
// their codes, tokens, queries, separate responses, locations, content negotiation,
// validation, conditional requests and discovery (RFC 7252 §4-§5, §7.2; RFC 6690). Codes
// and options are read from the PDUs coap-client prints at verbosity 6 and above.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LARGE_TEXT, startPlugtestServer, type PlugtestServer } from '../../src/testing/plugtest.js';
import type { Logger } from '../../src/protocol/interfaces.js';
import { parseLinks } from '../../src/protocol/link-format.js';

const CLIENT = 'coap-client-notls';
/** coap-client gives up after this many seconds (-B); the process is killed after the
 * execFile timeout in case it does not. */
const WAIT_SECONDS = 5;
const EXEC_TIMEOUT_MS = 10_000;

const run = promisify(execFile);

async function coapClient(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(CLIENT, ['-B', String(WAIT_SECONDS), ...args], { timeout: EXEC_TIMEOUT_MS, encoding: 'utf8' });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${CLIENT} is not installed: apt-get install libcoap3-bin`);
    }
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${CLIENT} ${args.join(' ')} failed: ${(error as Error).message}\nstdout: ${stdout ?? ''}\nstderr: ${stderr ?? ''}`);
  }
}

/** The payload coap-client prints at the default verbosity, without the newline it adds. */
async function payloadOf(args: readonly string[]): Promise<string> {
  return (await coapClient(args)).replace(/\n$/, '');
}

/** One PDU as coap-client shows it: `v:1 t:ACK c:2.05 i:a46c {01} [ Content-Format:text/plain ] :: 'payload'`. */
interface ShownPdu {
  readonly type: string;
  readonly code: string;
  readonly messageId: string;
  readonly token: string;
  readonly options: readonly string[];
  /** With non-printable bytes escaped as \xNN, as coap-client prints them. */
  readonly payload: string | undefined;
}

const PDU_LINE = /v:1 t:(CON|NON|ACK|RST) c:(\S+) i:([0-9a-f]+) \{([0-9a-f]*)\} \[(.*?)\](?: :: '(.*)')?$/gm;

function shownPdus(stdout: string): ShownPdu[] {
  return [...stdout.matchAll(PDU_LINE)].map((match) => ({
    type: match[1]!,
    code: match[2]!,
    messageId: match[3]!,
    token: match[4]!,
    options: match[5]!.split(', ').map((option) => option.trim()).filter((option) => option !== ''),
    payload: match[6],
  }));
}

const isResponse = (pdu: ShownPdu): boolean => /^[2-5]\.\d\d$/.test(pdu.code);

/** The request coap-client sent and the one response it got to it. */
function exchange(stdout: string): { request: ShownPdu; response: ShownPdu } {
  const pdus = shownPdus(stdout);
  const request = pdus.find((pdu) => /^[A-Z]+$/.test(pdu.code));
  const responses = pdus.filter(isResponse);
  assert.ok(request !== undefined, `coap-client showed no request:\n${stdout}`);
  assert.is(responses.length, 1, `expected one response:\n${stdout}`);
  return { request: request!, response: responses[0]! };
}

/** Fails the test on any warn or error our server logs: interop must be clean. */
function recordingLogger(): Logger & { readonly problems: string[] } {
  const problems: string[] = [];
  const record = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    problems.push(`${level}: ${message ?? ''} ${JSON.stringify(objectOrMessage)}`);
  };
  return { debug: () => {}, info: () => {}, warn: record('warn'), error: record('error'), problems };
}

async function withServer(body: (base: string, server: PlugtestServer) => Promise<void>): Promise<void> {
  const logger = recordingLogger();
  const server = await startPlugtestServer({ host: '127.0.0.1', port: 0, logger });
  try {
    await body(`coap://127.0.0.1:${server.endpoint.address().port}`, server);
  } finally {
    await server.close();
  }
  assert.equal(logger.problems, [], 'the server logged no warning or error');
}

test('CON GET /test gets a piggybacked 2.05 that describes the CON request', () => withServer(async (base) => {
  const stdout = await coapClient(['-v', '6', `${base}/test`]);
  const { request, response } = exchange(stdout);
  assert.is(request.type, 'CON');
  assert.is(response.type, 'ACK');
  assert.is(response.code, '2.05');
  assert.is(response.messageId, request.messageId, 'piggybacked on the ACK of the request');
  assert.ok(response.options.includes('Content-Format:text/plain'));
  assert.match(stdout, `Type: 0 (CON)\nCode: 0.01 GET\nMID: ${Number.parseInt(request.messageId, 16)}`);
}));

test('NON GET /test gets a NON 2.05 that describes the NON request', () => withServer(async (base) => {
  const stdout = await coapClient(['-v', '6', '-N', `${base}/test`]);
  const { request, response } = exchange(stdout);
  assert.is(request.type, 'NON');
  assert.is(response.type, 'NON');
  assert.is(response.code, '2.05');
  assert.is(response.token, request.token);
  assert.match(stdout, 'Type: 1 (NON)\nCode: 0.01 GET');
}));

test('PUT /test is 2.04, POST 2.01 with a Location-Path that then exists, DELETE 2.02', () => withServer(async (base) => {
  const put = exchange(await coapClient(['-v', '6', '-m', 'put', '-t', '0', '-e', 'changed', `${base}/test`]));
  assert.is(put.response.code, '2.04');

  const post = exchange(await coapClient(['-v', '6', '-m', 'post', '-t', '0', '-e', 'posted', `${base}/test`]));
  assert.is(post.response.code, '2.01');
  assert.equal(post.response.options, ['Location-Path:location1', 'Location-Path:location2', 'Location-Path:location3']);
  assert.is(await payloadOf([`${base}/location1/location2/location3`]), 'posted', 'the POSTed payload is at the location');

  const deleted = exchange(await coapClient(['-v', '6', '-m', 'delete', `${base}/test`]));
  assert.is(deleted.response.code, '2.02');
}));

test('tokens of 1, 4 and 8 bytes come back unchanged in the response', () => withServer(async (base) => {
  for (const token of ['a', 'abcd', 'abcdefgh']) {
    const stdout = await coapClient(['-v', '6', '-T', token, `${base}/test`]);
    const { request, response } = exchange(stdout);
    assert.is(request.token.length, token.length * 2, `a ${token.length}-byte token was sent`);
    assert.is(response.token, request.token);
    assert.match(stdout, `Token: ${request.token}`, 'the server saw that token');
  }
}));

test('/query echoes its Uri-Query arguments', () => withServer(async (base) => {
  assert.is(await payloadOf([`${base}/query?a=1&b=2`]), 'a=1&b=2');
}));

test('/separate gets an empty ACK first, then a separate CON 2.05 that coap-client acknowledges', () => withServer(async (base) => {
  // Verbosity 7 also shows the empty ACKs both ways.
  const stdout = await coapClient(['-v', '7', `${base}/separate`]);
  const pdus = shownPdus(stdout);
  const request = pdus.find((pdu) => pdu.code === 'GET');
  assert.ok(request !== undefined, stdout);
  const emptyAck = pdus.findIndex((pdu) => pdu.type === 'ACK' && pdu.code === '0.00' && pdu.messageId === request!.messageId);
  const separate = pdus.findIndex((pdu) => pdu.type === 'CON' && pdu.code === '2.05');
  assert.ok(emptyAck >= 0, `an empty ACK to the request:\n${stdout}`);
  assert.ok(separate > emptyAck, `a separate CON response after it:\n${stdout}`);
  assert.is(pdus[separate]!.token, request!.token);
  const ackOfSeparate = pdus.find((pdu) => pdu.type === 'ACK' && pdu.code === '0.00' && pdu.messageId === pdus[separate]!.messageId);
  assert.ok(ackOfSeparate !== undefined, 'coap-client acknowledged the separate response');
  assert.match(stdout, 'Type: 0 (CON)\nCode: 0.01 GET');
}));

test('closing the server while /separate is pending answers 5.03 at once and logs nothing', async () => {
  const logger = recordingLogger();
  const server = await startPlugtestServer({ host: '127.0.0.1', port: 0, logger });
  const pending = coapClient(['-v', '6', `coap://127.0.0.1:${server.endpoint.address().port}/separate`]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    await server.close();
  }
  assert.is(exchange(await pending).response.code, '5.03');
  assert.equal(logger.problems, []);
});

test('POST /location-query gets 2.01 with Location-Query first=1 and second=2', () => withServer(async (base) => {
  const { response } = exchange(await coapClient(['-v', '6', '-m', 'post', `${base}/location-query`]));
  assert.is(response.code, '2.01');
  assert.equal(response.options, ['Location-Query:first=1', 'Location-Query:second=2']);
}));

test('/.well-known/core lists /link1 with rt Type1, and ?rt=Type1 keeps /link1 and /link3 only', () => withServer(async (base) => {
  const links = parseLinks(await payloadOf([`${base}/.well-known/core`]));
  const link1 = links.find((link) => link.target === '/link1');
  assert.ok(link1 !== undefined, 'link1 is listed');
  const rt = link1!.attributes.find((attribute) => attribute.name === 'rt')?.value ?? '';
  assert.ok(rt.split(' ').includes('Type1'), `rt="${rt}" has Type1`);
  for (const target of ['/test', '/separate', '/obs', '/large', '/path', '/path/sub1', '/seg1/seg2/seg3']) {
    assert.ok(links.some((link) => link.target === target), `${target} is listed`);
  }
  assert.ok(links.find((link) => link.target === '/obs')!.attributes.some((attribute) => attribute.name === 'obs'));

  const filtered = parseLinks(await payloadOf([`${base}/.well-known/core?rt=Type1`]));
  assert.equal(filtered.map((link) => link.target), ['/link1', '/link3']);
}));

test('/path answers the link format of its sub-resources; /seg1/seg2/seg3 answers', () => withServer(async (base) => {
  const stdout = await coapClient(['-v', '6', `${base}/path`]);
  assert.ok(exchange(stdout).response.options.includes('Content-Format:application/link-format'));
  const children = parseLinks(await payloadOf([`${base}/path`]));
  assert.equal(children.map((link) => link.target), ['/path/sub1', '/path/sub2', '/path/sub3']);
  assert.is(await payloadOf([`${base}/seg1/seg2/seg3`]), 'Long path resource');
}));

test('/multi-format answers text/plain or application/xml by Accept, 4.06 for JSON', () => withServer(async (base) => {
  assert.match(await payloadOf([`${base}/multi-format`]), /^Status type: CON 0\.01 GET \d+$/);
  const xml = exchange(await coapClient(['-v', '6', '-A', '41', `${base}/multi-format`])).response;
  assert.ok(xml.options.includes('Content-Format:application/xml'));
  assert.match(xml.payload ?? '', /^<msg type="status">CON 0\.01 GET \d+<\/msg>$/);
  assert.is(exchange(await coapClient(['-v', '6', '-A', '50', `${base}/multi-format`])).response.code, '4.06');
}));

test('/validate: 2.03 for the current ETag; PUT changes content and ETag; stale If-Match is 4.12', () => withServer(async (base) => {
  const etagOf = (pdu: ShownPdu): string => {
    const option = pdu.options.find((text) => text.startsWith('ETag:0x'));
    assert.ok(option !== undefined, `an ETag in ${JSON.stringify(pdu)}`);
    return option!.slice('ETag:0x'.length);
  };
  const first = exchange(await coapClient(['-v', '6', `${base}/validate`])).response;
  assert.is(first.code, '2.05');
  const etag = etagOf(first);

  const valid = exchange(await coapClient(['-v', '6', '-O', `4,0x${etag}`, `${base}/validate`])).response;
  assert.is(valid.code, '2.03');
  assert.is(etagOf(valid), etag);
  assert.is(valid.payload, undefined, '2.03 carries no payload');

  const changed = exchange(await coapClient([
    '-v', '6', '-m', 'put', '-t', '0', '-O', `1,0x${etag}`, '-e', 'new content', `${base}/validate`,
  ])).response;
  assert.is(changed.code, '2.04');
  assert.is.not(etagOf(changed), etag, 'the ETag changed with the content');
  assert.is(await payloadOf([`${base}/validate`]), 'new content');

  const stale = exchange(await coapClient(['-v', '6', '-m', 'put', '-O', `1,0x${etag}`, '-e', 'lost update', `${base}/validate`])).response;
  assert.is(stale.code, '4.12');
  assert.is(await payloadOf([`${base}/validate`]), 'new content', 'the refused PUT changed nothing');
}));

test('/create1: PUT with If-None-Match is 2.01 then 4.12; after DELETE it is 2.01 again', () => withServer(async (base) => {
  const create = async (): Promise<string> =>
    exchange(await coapClient(['-v', '6', '-m', 'put', '-O', '5,', '-e', 'created', `${base}/create1`])).response.code;
  assert.is(await create(), '2.01');
  assert.is(await create(), '4.12');
  assert.is(await payloadOf([`${base}/create1`]), 'created');
  assert.is(exchange(await coapClient(['-v', '6', '-m', 'delete', `${base}/create1`])).response.code, '2.02');
  assert.is(exchange(await coapClient(['-v', '6', `${base}/create1`])).response.code, '4.04');
  assert.is(await create(), '2.01');
}));

test('/large answers its 1,280 bytes of text', () => withServer(async (base) => {
  assert.is(Buffer.byteLength(LARGE_TEXT), 1280);
  assert.is(await payloadOf([`${base}/large`]), LARGE_TEXT);
}));

test('/obs and /large-* answer plain requests until Observe and Block-wise land', () => withServer(async (base) => {
  const obs = exchange(await coapClient(['-v', '6', `${base}/obs`])).response;
  assert.is(obs.code, '2.05');
  assert.ok(obs.options.includes('Max-Age:5'), `Max-Age 5 in ${obs.options.join(', ')}`);
  assert.ok(!Number.isNaN(Date.parse(obs.payload ?? '')), `the current time in ${obs.payload}`);

  assert.is(exchange(await coapClient(['-v', '6', '-m', 'put', '-t', '0', '-e', 'updated', `${base}/large-update`])).response.code, '2.04');
  assert.is(await payloadOf([`${base}/large-update`]), 'updated');

  const created = exchange(await coapClient(['-v', '6', '-m', 'post', '-t', '0', '-e', 'first', `${base}/large-create`])).response;
  assert.is(created.code, '2.01');
  assert.equal(created.options, ['Location-Path:large-create', 'Location-Path:1']);
  assert.is(await payloadOf([`${base}/large-create/1`]), 'first');

  assert.is(await payloadOf(['-m', 'post', '-e', 'echo me', `${base}/large-post`]), 'echo me');
}));

test.run();
