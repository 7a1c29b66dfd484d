// Block-wise (RFC 7959) and Observe (RFC 7641) against libcoap on loopback: coap-client
// observing our plugtest server's /obs, /obs-non, /obs-pumping and /obs-large (Block2 +
// Observe), downloading 1 MiB at 64- and 1024-byte blocks and uploading 1 MiB with Block1;
// and our client uploading and downloading 1 MiB to and from coap-server. Every process
// runs with a time limit and is killed in `finally`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { LARGE_FILE, LARGE_TEXT, LARGE_UPDATE_MAX_SIZE, startPlugtestServer, type PlugtestServer } from '../../src/testing/plugtest.js';
import { memorySink } from '../../src/protocol/block-client.js';
import { bufferBody } from '../../src/protocol/body.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { recordingLogger } from '../helpers/peers.js';
import { withDynamicLibcoapServer } from '../helpers/libcoap-server.js';

const CLIENT = 'coap-client-notls';
const LOOPBACK = '127.0.0.1';
const INSTALL_HINT = 'apt-get install libcoap3-bin';
/** coap-client gives up waiting after this many seconds (-B); execFile kills it later. */
const CLIENT_WAIT_SECONDS = 20;
const EXEC_TIMEOUT_MS = 30_000;
/** Tests tick /obs faster than ETSI's 5 s so an observation of a few seconds sees several. */
const TEST_OBSERVE_INTERVAL_MS = 400;
const OBSERVE_SECONDS = 3;
const MIB = 1024 * 1024;
/** coap-server readiness: short requests until one is answered, at most this many. */
const REQUEST_TIMEOUT_MS = 20_000;
const OUTPUT_KEPT = 4096;

const run = promisify(execFile);
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

async function coapClient(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(CLIENT, ['-B', String(CLIENT_WAIT_SECONDS), ...args], {
      timeout: EXEC_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 16 * MIB,
    });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${CLIENT} is not installed: ${INSTALL_HINT}`);
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${CLIENT} ${args.join(' ')} failed: ${(error as Error).message}\nstdout: ${stdout?.slice(-OUTPUT_KEPT) ?? ''}\nstderr: ${stderr ?? ''}`);
  }
}

/** A response as coap-client prints it at verbosity 6: `v:1 t:NON c:2.05 i:b363 {01} [ ETag:0x…, Observe:8061, … ] :: 'payload'`. */
interface ShownResponse {
  readonly type: string;
  readonly code: string;
  readonly observe: number | undefined;
  readonly payload: string;
}

const RESPONSE_LINE = /v:1 t:(CON|NON|ACK) c:([2-5]\.\d\d) i:[0-9a-f]+ \{[0-9a-f]*\} \[(.*?)\](?: :: '(.*)')?$/gm;

function shownResponses(stdout: string): ShownResponse[] {
  return [...stdout.matchAll(RESPONSE_LINE)].map((match) => {
    const observe = /Observe:(\d+)/.exec(match[3]!)?.[1];
    return { type: match[1]!, code: match[2]!, observe: observe === undefined ? undefined : Number(observe), payload: match[4] ?? '' };
  });
}

/** Fails the test on any warn or error our side logs: interop must be clean. */

async function withPlugtest(body: (base: string, server: PlugtestServer) => Promise<void>): Promise<void> {
  const logger = recordingLogger();
  const server = await startPlugtestServer({ host: LOOPBACK, port: 0, logger, observeIntervalMs: TEST_OBSERVE_INTERVAL_MS });
  try {
    await body(`coap://${LOOPBACK}:${server.endpoint.address().port}`, server);
  } finally {
    await server.close();
  }
  assert.equal(logger.problems, [], 'the server logged no warning or error');
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-interop-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Waits until `condition` holds, checking every 50 ms for at most `ms`. */
async function eventually(condition: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (condition()) return true;
    await delay(50);
  }
  return condition();
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The observation's responses (the registration's answer, then the notifications), each
 * with Observe and an ISO time, in strictly increasing order of both. */
function assertIncreasingNotifications(stdout: string, atLeast: number): ShownResponse[] {
  const responses = shownResponses(stdout).filter((response) => response.observe !== undefined);
  assert.ok(responses.length >= atLeast, `at least ${atLeast} responses with Observe, got ${responses.length}:\n${stdout}`);
  for (const response of responses) {
    assert.is(response.code, '2.05');
    assert.match(response.payload, ISO_TIME);
  }
  for (let i = 1; i < responses.length; i++) {
    assert.ok(responses[i]!.payload > responses[i - 1]!.payload, `time increases: ${responses[i - 1]!.payload} then ${responses[i]!.payload}`);
    assert.ok(responses[i]!.observe! > responses[i - 1]!.observe!, 'Observe increases (no wrap in a few seconds)');
  }
  return responses;
}

test('coap-client observing /obs gets increasing notifications, and its deregistration on exit is honoured', () => withPlugtest(async (base, server) => {
  const stdout = await coapClient(['-v', '6', '-s', String(OBSERVE_SECONDS), `${base}/obs`]);
  const responses = assertIncreasingNotifications(stdout, 3);
  assert.is(responses[0]!.type, 'ACK', 'the registration is answered piggybacked');
  // TD_COAP_OBS_01: observation with CON messages.
  const notifications = responses.slice(1);
  assert.ok(notifications.every((notification) => notification.type === 'CON'), `all CON: ${notifications.map((n) => n.type).join(' ')}`);
  // coap-client sends GET with Observe = 1 as it exits (RFC 7641 §3.6).
  assert.ok(await eventually(() => server.endpoint.observers('/obs') === 0, 3_000), 'no observer left on /obs');
}));

const activeTimers = (): number => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

test('the /obs timer runs only while someone observes, and closing the server leaves no timer', async () => {
  const beforeStart = activeTimers();
  const server = await startPlugtestServer({ host: LOOPBACK, port: 0, observeIntervalMs: TEST_OBSERVE_INTERVAL_MS });
  try {
    const base = `coap://${LOOPBACK}:${server.endpoint.address().port}`;
    // A plain GET arms no timer of ours; the endpoint's own (its duplicate cache) stay.
    await coapClient([`${base}/obs`]);
    const idle = activeTimers();
    await coapClient(['-s', '1', `${base}/obs`]);
    assert.ok(await eventually(() => server.endpoint.observers('/obs') === 0, 3_000), 'the observer left');
    // /obs notifies with CONs (TD_COAP_OBS_01): one sent as coap-client exited goes on being
    // retransmitted, each outstanding CON with its timer; those are the message layer's.
    const ours = (): number => activeTimers() - server.endpoint.messageLayer.sizes.outstanding;
    assert.ok(await eventually(() => ours() === idle, 2 * TEST_OBSERVE_INTERVAL_MS + 500), `the timer stopped with no observer (${ours()} timers, ${idle} when idle)`);
    // Observed again, then closed while observed.
    const observing = coapClient(['-s', '3', `${base}/obs-pumping`]);
    assert.ok(await eventually(() => server.endpoint.observers('/obs-pumping') === 1, 3_000), 'observed');
    await server.close();
    assert.is(activeTimers(), beforeStart + 1, 'only the coap-client kill timer is left');
    await observing;
  } finally {
    await server.close();
  }
  assert.is(activeTimers(), beforeStart, 'no timer left behind');
});

test('/obs-non notifications come as NON', () => withPlugtest(async (base) => {
  const stdout = await coapClient(['-v', '6', '-s', String(OBSERVE_SECONDS), `${base}/obs-non`]);
  const notifications = assertIncreasingNotifications(stdout, 3).slice(1);
  assert.ok(notifications.every((notification) => notification.type === 'NON'), `all NON: ${notifications.map((n) => n.type).join(' ')}`);
}));

test('/obs-pumping notifies every 200 ms', () => withPlugtest(async (base) => {
  const stdout = await coapClient(['-v', '6', '-s', '2', `${base}/obs-pumping`]);
  assertIncreasingNotifications(stdout, 6);
}));

test('coap-client observing /obs-large gets every notification whole: Block2 follow-ups of one state', () => withPlugtest(async (base) => {
  // -w ends each notification with a newline; each is its period's time and LARGE_TEXT.
  const stdout = await coapClient(['-w', '-s', String(OBSERVE_SECONDS), `${base}/obs-large`]);
  const notifications = stdout.split(/(?=^\d{4}-\d\d-\d\dT)/m).filter((part) => part !== '');
  const times: string[] = [];
  notifications.forEach((notification, i) => {
    const [time, ...rest] = notification.split('\n');
    assert.match(time!, ISO_TIME);
    times.push(time!);
    // coap-client prints blank lines as it exits, and prints the blocks it has of a
    // notification whose transfer the end of the observation cut short.
    const text = rest.join('\n').replace(/\n+$/, '\n');
    if (i < notifications.length - 1) assert.is(text, LARGE_TEXT, `notification at ${time} arrived whole`);
    else assert.ok(LARGE_TEXT.startsWith(text.replace(/\n$/, '')), `the last notification, at ${time}, is a prefix of the representation`);
  });
  assert.ok(times.length >= 3, `at least three notifications:\n${stdout.slice(0, 2000)}`);
  assert.ok(times.every((time, i) => i === 0 || time > times[i - 1]!), `each a newer state: ${times.join(' ')}`);
}));

test('coap-client downloads the 1 MiB /large-file with 64- and 1024-byte blocks', () => withPlugtest((base) => withTempDir(async (dir) => {
  const expected = sha256(await LARGE_FILE.read(0, LARGE_FILE.size));
  for (const size of [64, 1024]) {
    const file = join(dir, `large-${size}`);
    await coapClient(['-b', String(size), '-o', file, `${base}/large-file`]);
    const received = await readFile(file);
    assert.is(received.length, LARGE_FILE.size, `${size}-byte blocks: the whole size`);
    assert.is(sha256(received), expected, `${size}-byte blocks: the same bytes`);
  }
})));

test('coap-client PUTs 1 MiB to /large-update with Block1; our client GETs it back whole', () => withPlugtest((base) => withTempDir(async (dir) => {
  const body = randomBytes(MIB);
  const file = join(dir, 'upload');
  await writeFile(file, body);
  await coapClient(['-m', 'put', '-b', '1024', '-f', file, `${base}/large-update`]);
  const client = await Endpoint.udp({ host: LOOPBACK, port: 0 });
  try {
    const response = await client.request({ uri: `${base}/large-update`, timeoutMs: REQUEST_TIMEOUT_MS });
    assert.is(response.code, ResponseCode.Content);
    assert.is(response.payload.length, body.length);
    assert.is(sha256(response.payload), sha256(body));

    // Past the 2 MiB limit: 4.13, and the stored representation stays.
    const tooLarge = join(dir, 'too-large');
    await writeFile(tooLarge, Buffer.alloc(LARGE_UPDATE_MAX_SIZE + 1024, 0x61));
    const refused = await coapClient(['-v', '6', '-m', 'put', '-b', '1024', '-f', tooLarge, `${base}/large-update`]);
    assert.ok(shownResponses(refused).some((shown) => shown.code === '4.13'), `4.13 for a body over the limit:\n${refused.slice(-OUTPUT_KEPT)}`);
    const after = await client.request({ uri: `${base}/large-update`, timeoutMs: REQUEST_TIMEOUT_MS });
    assert.is(sha256(after.payload), sha256(body), 'the refused upload changed nothing');
  } finally {
    await client.close();
  }
})));

test('coap-client POSTs 64 KiB to /large-post with Block1 and gets the echo whole through Block2 follow-ups', () => withPlugtest((base) => withTempDir(async (dir) => {
  const body = randomBytes(64 * 1024);
  const file = join(dir, 'post');
  const out = join(dir, 'echo');
  await writeFile(file, body);
  await coapClient(['-m', 'post', '-b', '1024', '-f', file, '-o', out, `${base}/large-post`]);
  const echoed = await readFile(out);
  assert.is(echoed.length, body.length);
  assert.is(sha256(echoed), sha256(body));
})));

// ---- our client against coap-server ----------------------------------------------------

/** A port nobody uses right now: bound, read and released. The server binds it next. */


/** coap-server with dynamic resources, asked through a client of ours that must log no
 * problem and leave no exchange open. */
async function withLibcoapServer(body: (client: Endpoint, base: string) => Promise<void>): Promise<void> {
  const logger = recordingLogger();
  const client = await Endpoint.udp({ host: LOOPBACK, port: 0 }, { logger });
  try {
    await withDynamicLibcoapServer(client, (base) => body(client, base));
  } finally {
    await client.close();
  }
  assert.equal(logger.problems, [], 'the client logged no warning or error');
  assert.is(client.openExchanges, 0, 'no exchange left open');
}

test('our client PUTs 1 MiB block-wise to coap-server, which creates the resource, and GETs it back', () => withLibcoapServer(async (client, base) => {
  const body = randomBytes(MIB);
  const uri = `${base}/fleet-blob`;
  const sent: number[] = [];
  const put = await client.upload({ uri, source: bufferBody(body), timeoutMs: REQUEST_TIMEOUT_MS, onProgress: (offset) => sent.push(offset) });
  assert.is(put.code, ResponseCode.Created, 'a PUT to a new path creates it (-d)');
  assert.ok(sent.length > 0 && sent.every((offset, i) => offset > (sent[i - 1] ?? 0) && offset <= body.length), 'progress increases');

  for (const sizeExponent of [6, 4]) {
    const sink = memorySink();
    let lastProgress = 0;
    const result = await client.download({
      uri, sink, sizeExponent, timeoutMs: REQUEST_TIMEOUT_MS, onProgress: (received) => { lastProgress = received; },
    });
    assert.is(result.size, body.length, `${2 ** (sizeExponent + 4)}-byte blocks: the whole size`);
    assert.is(lastProgress, body.length);
    assert.is(sha256(sink.body()), sha256(body), `${2 ** (sizeExponent + 4)}-byte blocks: the same bytes`);
  }

  const whole = await client.request({ uri, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(sha256(whole.payload), sha256(body), 'request() assembles the Block2 response');

  // A second PUT replaces it: 2.04 this time.
  const replacement = randomBytes(MIB);
  const replaced = await client.request({ uri, method: Method.PUT, payload: replacement, timeoutMs: REQUEST_TIMEOUT_MS });
  assert.is(replaced.code, ResponseCode.Changed);
  assert.is(sha256((await client.request({ uri, timeoutMs: REQUEST_TIMEOUT_MS })).payload), sha256(replacement));
}));

test.run();
