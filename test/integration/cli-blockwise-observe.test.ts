// The coap-fleet command's block-wise (RFC 7959) and Observe (RFC 7641) paths as a real
// process (bin/coap-fleet.js) against an in-process UDP endpoint on loopback: get --out
// and put --in streamed through files, --block-size, observe until --for or SIGINT with
// the server left without observers, and the progress bar's terminal-only drawing.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockSize, readBlockOption } from '../../src/protocol/block.js';
import { bufferBody } from '../../src/protocol/body.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { OptionNumber } from '../../src/protocol/options.js';
import { formatBytes, progressBar } from '../../src/cli/progress.js';
import { runCli } from '../helpers/cli.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const LARGE = randomBytes(1024 * 1024);
// Text, so the plain `get` can print it and the test compare it as a string.
const MEDIUM = Buffer.from(Array.from({ length: 400 }, (_, i) => `line ${String(i).padStart(4, '0')} of the medium resource\n`).join(''));
const OBSERVED = '/obs';

let server: Endpoint;
let base: string;
let tempDir: string;
let ticker: NodeJS.Timeout;
let temperature = 20;
/** Block sizes the /medium handler was asked for, by Block2 in the request. */
let mediumBlockSizes: number[] = [];
let lastUpload: { sha256: string; size: number; contentFormat: number | undefined } | undefined;
/** What the last upload handler saw; a function, since the handler sets it meanwhile. */
const uploaded = (): typeof lastUpload => lastUpload;

test.before(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'coap-fleet-cli-blockwise-'));
  server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  base = `coap://127.0.0.1:${server.address().port}`;
  server.router.add('/large', {
    handlers: { GET: () => ({ code: ResponseCode.Content, body: bufferBody(LARGE), contentFormat: ContentFormat.OctetStream }) },
  });
  server.router.add('/medium', {
    handlers: { GET: (request) => {
      const block = readBlockOption(request.options, OptionNumber.Block2);
      if (block !== undefined) mediumBlockSizes.push(blockSize(block.sizeExponent));
      return { code: ResponseCode.Content, body: bufferBody(MEDIUM), contentFormat: ContentFormat.TextPlain };
    } },
  });
  const record = (request: { payload: Buffer; contentFormat: number | undefined }) => {
    lastUpload = { sha256: sha256(request.payload), size: request.payload.length, contentFormat: request.contentFormat };
    return { code: ResponseCode.Changed, payload: `got ${request.payload.length} bytes` };
  };
  server.router.add('/upload', { upload: { maxSize: 2 * 1024 * 1024 }, handlers: { PUT: record, POST: record } });
  server.router.add('/small-upload', { upload: { maxSize: 1000 }, handlers: { PUT: record } });
  server.router.add(OBSERVED, {
    observable: true,
    handlers: { GET: () => ({ code: ResponseCode.Content, payload: `${temperature} C`, contentFormat: ContentFormat.TextPlain }) },
  });
  server.router.add('/plain', { handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'not observable' }) } });
  ticker = setInterval(() => {
    temperature++;
    server.notify(OBSERVED);
  }, 200);
});

test.after(async () => {
  clearInterval(ticker);
  await server.close();
  await rm(tempDir, { recursive: true, force: true });
});

test('get --out streams a 1 MiB block-wise resource into the file, byte for byte', async () => {
  const file = join(tempDir, 'large.bin');
  const result = await runCli(['get', `${base}/large`, '--out', file]);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stdout, '', 'the body goes to the file, not stdout');
  assert.is(result.stderr, '', 'no progress bar when stderr is not a terminal');
  assert.is(sha256(await readFile(file)), sha256(LARGE));
});

test('get --out --json prints code, size, sha256 and file', async () => {
  const file = join(tempDir, 'large-json.bin');
  const result = await runCli(['get', `${base}/large`, '--out', file, '--json']);
  assert.is(result.status, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout), { code: '2.05', size: LARGE.length, sha256: sha256(LARGE), file });
});

test('get --out of a missing resource exits 1 and creates no file', async () => {
  const file = join(tempDir, 'missing.bin');
  const result = await runCli(['get', `${base}/missing`, '--out', file]);
  assert.is(result.status, 1, result.stderr);
  assert.match(result.stderr, /4\.04/);
  assert.is(await stat(file).then(() => true, () => false), false);
});

test('--block-size 64 asks for 64-byte blocks, with --out and without', async () => {
  mediumBlockSizes = [];
  const file = join(tempDir, 'medium.txt');
  const streamed = await runCli(['get', `${base}/medium`, '--out', file, '--block-size', '64']);
  assert.is(streamed.status, 0, streamed.stderr);
  assert.ok((await readFile(file)).equals(MEDIUM));
  assert.is(mediumBlockSizes.length, Math.ceil(MEDIUM.length / 64));
  assert.ok(mediumBlockSizes.every((size) => size === 64), `sizes asked: ${[...new Set(mediumBlockSizes)].join(', ')}`);

  mediumBlockSizes = [];
  const printed = await runCli(['get', `${base}/medium`, '--block-size', '64']);
  assert.is(printed.status, 0, printed.stderr);
  assert.is(printed.stdout, MEDIUM.toString());
  assert.ok(mediumBlockSizes.length > 1 && mediumBlockSizes.every((size) => size === 64), `sizes asked: ${mediumBlockSizes.join(', ')}`);
});

test('a --block-size that is not a power of two from 16 to 1024 exits 2', async () => {
  for (const size of ['100', '8', '2048', 'big']) {
    const result = await runCli(['get', `${base}/medium`, '--block-size', size]);
    assert.is(result.status, 2, `${size}: ${result.stderr}`);
    assert.match(result.stderr, /^coap-fleet: CLI_ERR_USAGE: --block-size must be a power of two from 16 to 1024/);
  }
});

test('put --in streams a 1 MiB file block-wise and the handler gets the same bytes', async () => {
  const file = join(tempDir, 'upload.bin');
  await writeFile(file, LARGE);
  lastUpload = undefined;
  const result = await runCli(['put', `${base}/upload`, '--in', file, '--content-format', 'octet']);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stdout, `got ${LARGE.length} bytes\n`);
  assert.equal(lastUpload, { sha256: sha256(LARGE), size: LARGE.length, contentFormat: ContentFormat.OctetStream });
});

test('post --in with --block-size 256 and --json reports the final response', async () => {
  const file = join(tempDir, 'post.txt');
  await writeFile(file, MEDIUM);
  lastUpload = undefined;
  const result = await runCli(['post', `${base}/upload`, '--in', file, '--block-size', '256', '--json']);
  assert.is(result.status, 0, result.stderr);
  assert.is((JSON.parse(result.stdout) as { code: string }).code, '2.04');
  assert.is(uploaded()?.sha256, sha256(MEDIUM));
});

test('put --file over one datagram now goes block-wise from memory (no 65,000-byte cap)', async () => {
  const file = join(tempDir, 'payload.bin');
  const bytes = LARGE.subarray(0, 200_000);
  await writeFile(file, bytes);
  lastUpload = undefined;
  const result = await runCli(['put', `${base}/upload`, '--file', file]);
  assert.is(result.status, 0, result.stderr);
  assert.is(uploaded()?.sha256, sha256(bytes));
});

test('put --in past the resource\'s limit exits 1 on the 4.13', async () => {
  const file = join(tempDir, 'too-large.bin');
  await writeFile(file, LARGE.subarray(0, 5000));
  const result = await runCli(['put', `${base}/small-upload`, '--in', file]);
  assert.is(result.status, 1, result.stderr);
  assert.match(result.stderr, /at most 1000 bytes/);
});

test('--in and --out are refused where they do not belong', async () => {
  const file = join(tempDir, 'refused.bin');
  await writeFile(file, 'x');
  for (const args of [['put', `${base}/upload`, '--out', file], ['get', `${base}/large`, '--in', file],
    ['put', `${base}/upload`, '--in', file, '--payload', 'x'], ['put', `${base}/upload`, '--in', join(tempDir, 'absent')],
    ['get', `${base}/large`, '--out', tempDir], ['delete', `${base}/upload`, '--block-size', '64']]) {
    const result = await runCli(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^coap-fleet: CLI_ERR_USAGE: .+\n$/, args.join(' '));
  }
});

const NOTIFICATION_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) observe=(\d+|-) (2\.05 Content) (\d+ C)$/;

test('observe --for 2 prints the first response and each notification with rising Observe numbers', async () => {
  const result = await runCli(['observe', `${base}${OBSERVED}`, '--for', '2'], { killAfterMs: 10_000 });
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stderr, '');
  const lines = result.stdout.trim().split('\n');
  assert.ok(lines.length >= 4, `first response and at least 3 notifications:\n${result.stdout}`);
  const parsed = lines.map((line) => NOTIFICATION_LINE.exec(line));
  assert.ok(parsed.every((match) => match !== null), result.stdout);
  const sequence = parsed.map((match) => Number(match![2]));
  for (let i = 1; i < sequence.length; i++) assert.ok(sequence[i]! > sequence[i - 1]!, `observe numbers ${sequence.join(', ')}`);
  assert.ok(result.elapsedMs >= 2000, `stopped after ${result.elapsedMs} ms`);
  // --for ends with an active deregistration, not by walking away.
  assert.is(server.observers(OBSERVED), 0);
});

test('observe --json prints one parseable object per line with the observe number', async () => {
  const result = await runCli(['observe', `${base}${OBSERVED}`, '--for', '1', '--json'], { killAfterMs: 10_000 });
  assert.is(result.status, 0, result.stderr);
  const objects = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(objects.length >= 3, result.stdout);
  for (const object of objects) {
    assert.is(object.code, '2.05');
    assert.is(object.payloadEncoding, 'utf8');
    assert.match(String(object.payload), /^\d+ C$/);
    assert.type(object.observe, 'number');
    assert.ok(!Number.isNaN(Date.parse(String(object.time))));
  }
});

test('observe stopped with SIGINT deregisters actively and exits 0', async () => {
  let observersWhileRunning = -1;
  let interrupted = false;
  const result = await runCli(['observe', `${base}${OBSERVED}`], {
    killAfterMs: 10_000,
    onStdout: (stdout, child) => {
      // The first response and two notifications: registered and receiving.
      if (interrupted || stdout.split('\n').length <= 3) return;
      interrupted = true;
      observersWhileRunning = server.observers(OBSERVED);
      child.kill('SIGINT');
    },
  });
  assert.ok(interrupted, `never got 3 lines: ${result.stdout} ${result.stderr}`);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.signal, null);
  assert.is(observersWhileRunning, 1);
  // The GET with Observe = 1 was answered before the process exited.
  assert.is(server.observers(OBSERVED), 0);
});

test('observe of a resource that is not observable prints its one response, says it is not observed, and exits 1', async () => {
  const result = await runCli(['observe', `${base}/plain`], { killAfterMs: 10_000 });
  assert.is(result.status, 1, result.stderr);
  assert.match(result.stdout, /^\S+Z observe=- 2\.05 Content not observable\n$/);
  assert.is(result.stderr, 'coap-fleet: not observed: the server served a plain response (observer limit reached or resource not observable)\n');
  const json = await runCli(['observe', `${base}/plain`, '--json'], { killAfterMs: 10_000 });
  assert.is(json.status, 1, json.stderr);
  assert.is((JSON.parse(json.stdout) as { observe: unknown }).observe, null);
  assert.match(json.stderr, /^coap-fleet: not observed: /);
  const missing = await runCli(['observe', `${base}/missing`, '--json'], { killAfterMs: 10_000 });
  assert.is(missing.status, 1, missing.stderr);
  assert.is((JSON.parse(missing.stdout) as { code: string; observe: unknown }).code, '4.04');
});

test('observe ends with exit 1 when the server removes the resource (a final 4.04)', async () => {
  server.router.add('/vanishing', {
    observable: true, handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'here' }) },
  });
  let removed = false;
  const result = await runCli(['observe', `${base}/vanishing`], {
    killAfterMs: 10_000,
    onStdout: (stdout) => {
      if (removed || !stdout.includes('\n')) return;
      removed = true;
      server.removeResource('/vanishing');
    },
  });
  assert.is(result.status, 1, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.match(lines[0]!, /observe=\d+ 2\.05 Content here$/);
  assert.match(lines.at(-1)!, /observe=- 4\.04 Not Found$/);
  assert.match(result.stderr, /the server ended the observation with 4\.04 Not Found/);
});

test('observe refuses bad arguments with exit 2', async () => {
  for (const args of [['observe'], ['observe', `${base}${OBSERVED}`, '--for', '0'], ['observe', `${base}${OBSERVED}`, '--json', '-v'],
    ['observe', `${base}${OBSERVED}`, '--out', 'x']]) {
    const result = await runCli(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^coap-fleet: CLI_ERR_USAGE: /);
  }
});

test('help lists observe and the block options', async () => {
  const help = await runCli(['help']);
  assert.match(help.stdout, /observe URI/);
  const get = await runCli(['get', '--help']);
  assert.match(get.stdout, /--out FILE/);
  assert.match(get.stdout, /--block-size N/);
  const put = await runCli(['help', 'put']);
  assert.match(put.stdout, /--in FILE/);
  assert.not.match(put.stdout, /--out FILE/);
  const observe = await runCli(['observe', '--help']);
  assert.match(observe.stdout, /--for SECONDS/);
});

test('the progress bar draws in place on a terminal, throttled, and nothing elsewhere', () => {
  let now = 0;
  const drawn: string[] = [];
  const terminal = { isTTY: true, columns: 120, write: (chunk: string | Uint8Array) => drawn.push(String(chunk)) > 0 };
  const progress = progressBar(terminal, 'image.bin', { now: () => now, intervalMs: 100 });
  now = 500;
  progress.update(512 * 1024, 1024 * 1024);
  now = 550;
  progress.update(600 * 1024, 1024 * 1024); // within 100 ms of the last draw: skipped
  now = 1000;
  progress.update(1024 * 1024, 1024 * 1024);
  progress.finish();
  assert.is(drawn.length, 4, drawn.join('|'));
  assert.match(drawn[0]!, /^\rimage\.bin  \[#{12}\.{12}\]  512\.0 KiB \/ 1\.0 MiB   50%  1\.0 MiB\/s\u001b\[K$/);
  assert.match(drawn[1]!, /1\.0 MiB \/ 1\.0 MiB  100%/);
  assert.is(drawn.at(-1), '\n');

  const written: string[] = [];
  const pipe = { write: (chunk: string | Uint8Array) => written.push(String(chunk)) > 0 };
  const quiet = progressBar(pipe, 'image.bin');
  quiet.update(10, 100);
  quiet.finish();
  assert.equal(written, []);
  assert.is(formatBytes(1536), '1.5 KiB');
  assert.is(formatBytes(999), '999 B');
});

test.run();
