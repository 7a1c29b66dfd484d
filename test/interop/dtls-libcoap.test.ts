// libcoap's DTLS peers (its OpenSSL build) and ours, on loopback: coap-client-openssl
// against our plugtest server over DTLS with a PSK (GET, PUT, Observe, a 1 MiB Block2
// download compared by sha256) and with certificates (mutual authentication; a client
// certificate from another CA refused while others are served); and our client against
// coap-server-openssl with a PSK. Child processes are bounded in time and killed in finally.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { LARGE_FILE, startPlugtestServer, type PlugtestServer } from '../../src/testing/plugtest.js';
import type { DtlsCredentials } from '../../src/dtls/transport-options.js';
import { createDtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import { DtlsError } from '../../src/dtls/errors.js';
import { ensureWasm } from '../helpers/wasm.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { makePki } from '../unit/dtls/dtls-fixtures.js';
import { recordingLogger, stopProcess } from '../helpers/peers.js';

await ensureWasm();
const CLIENT = 'coap-client-openssl';
const SERVER = 'coap-server-openssl';
const LOOPBACK = '127.0.0.1';
const IDENTITY = 'node:interop';
const KEY = 'interop-secret';
const CLIENT_WAIT_SECONDS = 20;
const EXEC_TIMEOUT_MS = 40_000;
const OBSERVE_INTERVAL_MS = 400;
const MIB = 1024 * 1024;
const OUTPUT_KEPT = 4096;
const pki = makePki();

const run = promisify(execFile);
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

async function coapClient(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(CLIENT, ['-B', String(CLIENT_WAIT_SECONDS), ...args], { timeout: EXEC_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 16 * MIB });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${CLIENT} is not installed: apt-get install libcoap3-bin`);
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${CLIENT} ${args.join(' ')} failed: ${(error as Error).message}\nstdout: ${stdout?.slice(-OUTPUT_KEPT) ?? ''}\nstderr: ${stderr?.slice(-OUTPUT_KEPT) ?? ''}`);
  }
}

/** coap-client's run, failed or not: its exit code and what it printed. */
async function coapClientOutcome(args: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(CLIENT, ['-B', '3', ...args], { timeout: EXEC_TIMEOUT_MS, encoding: 'utf8' });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, output: (stdout ?? '') + (stderr ?? '') };
  }
}


const PSK_SERVER: DtlsCredentials = { mode: 'psk', pskLookup: (identity) => (identity === IDENTITY ? Buffer.from(KEY) : undefined) };
const CERTIFICATE_SERVER: DtlsCredentials = { mode: 'certificate', certificates: { ca: pki.ca, ...pki.server } };

/** `expected`: warnings the test provokes (a refused handshake is warned of). */
async function withDtlsPlugtest(
  credentials: DtlsCredentials, body: (base: string, server: PlugtestServer) => Promise<void>, expected: readonly RegExp[] = [],
): Promise<void> {
  const logger = recordingLogger();
  const server = await startPlugtestServer({
    host: LOOPBACK, plain: false, dtls: { port: 0, credentials }, logger, observeIntervalMs: OBSERVE_INTERVAL_MS,
  });
  try {
    await body(`coaps://${LOOPBACK}:${server.endpoint.address().port}`, server);
  } finally {
    await server.close();
  }
  assert.equal(logger.problems.filter((line) => !expected.some((pattern) => pattern.test(line))), [], 'the server logged no other warning or error');
}

const psk = ['-u', IDENTITY, '-k', KEY];

test('coap-client-openssl with a PSK: GET /test over DTLS', () => withDtlsPlugtest(PSK_SERVER, async (base, server) => {
  const stdout = await coapClient([...psk, `${base}/test`]);
  assert.match(stdout, /Code: 0\.01 GET/);
  assert.is(server.dtlsEndpoint!.transport.stats().counters.handshakes, 1);
}));

test('coap-client-openssl with a PSK: PUT then GET of /create1', () => withDtlsPlugtest(PSK_SERVER, async (base) => {
  await coapClient([...psk, '-m', 'put', '-e', 'data over dtls', `${base}/create1`]);
  assert.is((await coapClient([...psk, `${base}/create1`])).trim(), 'data over dtls');
}));

test('coap-client-openssl with a PSK: Observe /obs for 3 s sees several notifications, then deregisters', () => withDtlsPlugtest(PSK_SERVER, async (base, server) => {
  const stdout = await coapClient([...psk, '-s', '3', '-v', '6', `${base}/obs`]);
  const observed = [...stdout.matchAll(/Observe:(\d+)/g)].map((match) => Number(match[1]));
  assert.ok(observed.length >= 4, `notifications seen: ${observed.length}\n${stdout.slice(-OUTPUT_KEPT)}`);
  for (let i = 1; i < observed.length; i++) assert.ok(observed[i]! > observed[i - 1]!, 'Observe numbers increase');
  for (let waited = 0; waited < 3000 && server.endpoint.observers('/obs') > 0; waited += 50) await delay(50);
  assert.is(server.endpoint.observers('/obs'), 0, 'no observer left');
}));

test('coap-client-openssl with a PSK: the 1 MiB /large-file by Block2, the same bytes', () => withDtlsPlugtest(PSK_SERVER, async (base) => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-dtls-interop-'));
  try {
    const file = join(dir, 'large');
    await coapClient([...psk, '-b', '1024', '-o', file, `${base}/large-file`]);
    const received = await readFile(file);
    assert.is(received.length, LARGE_FILE.size);
    assert.is(sha256(received), sha256(await LARGE_FILE.read(0, LARGE_FILE.size)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}));

test('coap-client-openssl with a wrong PSK gets nothing; the next client with the right one is served', () => withDtlsPlugtest(PSK_SERVER, async (base, server) => {
  const refused = await coapClientOutcome(['-u', IDENTITY, '-k', 'not-the-key', `${base}/test`]);
  assert.not.match(refused.output, /Code: 0\.01 GET/);
  assert.match(await coapClient([...psk, `${base}/test`]), /Code: 0\.01 GET/);
  assert.ok(server.dtlsEndpoint!.transport.stats().counters.handshakeFailures >= 1);
}, [/^warn: dtls handshake failed .*DTLS_ERR_BAD_PSK/]));

test('coap-client-openssl with certificates (-c/-j and -C or -R): mutual authentication; a client certificate from another CA is refused', () => withDtlsPlugtest(CERTIFICATE_SERVER, async (base, server) => {
  const { paths } = pki;
  assert.match(await coapClient(['-c', paths.clientCert, '-j', paths.clientKey, '-C', paths.ca, `${base}/test`]), /Code: 0\.01 GET/);
  assert.match(await coapClient(['-c', paths.clientCert, '-j', paths.clientKey, '-R', paths.ca, `${base}/test`]), /Code: 0\.01 GET/);
  const rogue = await coapClientOutcome(['-c', paths.rogueCert, '-j', paths.rogueKey, '-R', paths.ca, `${base}/test`]);
  assert.not.match(rogue.output, /Code: 0\.01 GET/);
  assert.match(await coapClient(['-c', paths.clientCert, '-j', paths.clientKey, '-C', paths.ca, `${base}/large`]), /\S/);
  const { counters } = server.dtlsEndpoint!.transport.stats();
  assert.is(counters.handshakes, 3);
  assert.ok(counters.handshakeFailures >= 1);
}, [/^warn: dtls handshake failed .*DTLS_ERR_CERT_UNTRUSTED/]));

// ---- our client against coap-server-openssl ------------------------------------------

async function portFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, LOOPBACK, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/** A port P with P + 1 free too: coap-server listens on P (coap) and P + 1 (coaps). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    if (await portFree(port) && await portFree(port + 1)) return port;
  }
  throw new Error('no free pair of UDP ports');
}


async function withLibcoapServer(body: (coapsBase: string) => Promise<void>): Promise<void> {
  const port = await freePortPair();
  const child = spawn(SERVER, ['-A', LOOPBACK, '-p', String(port), '-k', KEY], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let failure: Error | undefined;
  child.once('error', (error: NodeJS.ErrnoException) => {
    failure = error.code === 'ENOENT' ? new Error(`${SERVER} is not installed: apt-get install libcoap3-bin`) : error;
  });
  const probe = await Endpoint.udp({ host: LOOPBACK, port: 0 });
  try {
    // Ready when its plain port answers.
    for (let attempt = 0; ; attempt++) {
      if (failure !== undefined) throw failure;
      if (attempt >= 50) throw new Error(`${SERVER} did not start: ${output}`);
      try {
        await probe.request({ uri: `coap://${LOOPBACK}:${port}/time`, confirmable: false, timeoutMs: 200 });
        break;
      } catch { /* not yet */ }
    }
    await body(`coaps://${LOOPBACK}:${port + 1}`);
  } catch (error) {
    if (error instanceof Error) error.message += `\n${SERVER} output: ${output}`;
    throw error;
  } finally {
    await probe.close();
    await stopProcess(child);
  }
}

test('our client with a PSK against coap-server-openssl: GET /time; a wrong key fails with DTLS_ERR_BAD_PSK', () => withLibcoapServer(async (base) => {
  const logger = recordingLogger();
  const client = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity: IDENTITY, key: Buffer.from(KEY) }, host: LOOPBACK, port: 0, logger });
  const wrong = await createDtlsEndpoint({
    role: 'client', mode: 'psk', psk: { identity: IDENTITY, key: Buffer.from('wrong') }, host: LOOPBACK, port: 0,
    handshakeTimeout: { initialMs: 500, maxMs: 2000 },
  });
  try {
    const response = await client.request({ uri: `${base}/time`, timeoutMs: 10_000 });
    assert.is(response.code, ResponseCode.Content);
    // libcoap's /time answers like "Nov 29 02:32:19".
    assert.match(response.payload.toString(), /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d$/);
    const again = await client.request({ uri: `${base}/time`, timeoutMs: 10_000 });
    assert.is(again.code, ResponseCode.Content);
    assert.is(client.transport.stats().counters.handshakes, 1, 'one session for both');
    try {
      await wrong.request({ uri: `${base}/time`, timeoutMs: 10_000 });
      assert.unreachable('a wrong key must fail');
    } catch (error) {
      assert.instance(error, DtlsError);
      assert.ok(['DTLS_ERR_BAD_PSK', 'DTLS_ERR_HANDSHAKE_TIMEOUT'].includes((error as DtlsError).code), (error as DtlsError).code);
    }
  } finally {
    await client.close();
    await wrong.close();
  }
  assert.equal(logger.problems, []);
}));

test.after(() => pki.remove());

test.run();
