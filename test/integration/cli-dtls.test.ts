// The coap-fleet command over DTLS as real processes on loopback: `plugtest` serving
// coap:// and coaps:// (a PSK) or coaps:// only (certificates), and the client verbs
// against it with --psk-identity/--psk-key, --psk-key-hex, or --cert/--key/--ca; typed
// failures for a wrong key, and usage errors for credentials that do not fit the URI.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureWasm } from '../helpers/wasm.js';
import { makePki } from '../unit/dtls/dtls-fixtures.js';
import { bin, root, runCli as runCliProcess } from '../helpers/cli.js';

await ensureWasm();
const pki = makePki();
const IDENTITY = 'node:cli';
const KEY = 'cli-secret';
const PSK = ['--psk-identity', IDENTITY, '--psk-key', KEY];

const runCli = (args: readonly string[], killAfterMs = 20_000) => runCliProcess(args, { killAfterMs });


interface Daemon {
  readonly stderr: () => string;
  stop(): Promise<{ status: number | null; stderr: string }>;
}

/** Starts `plugtest` and waits until stderr matches every pattern; killed hard after 60 s. */
async function startPlugtest(args: readonly string[], ready: readonly RegExp[]): Promise<{ daemon: Daemon; matches: RegExpExecArray[] }> {
  const child = spawn(process.execPath, [bin, 'plugtest', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (status) => {
    clearTimeout(killer);
    resolve(status);
  }));
  const matches = await new Promise<RegExpExecArray[]>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const found = ready.map((pattern) => pattern.exec(stderr));
      if (found.every((match) => match !== null)) resolve(found as RegExpExecArray[]);
    });
    void exited.then(() => reject(new Error(`plugtest exited before it was ready: ${stderr}`)));
  });
  return {
    matches,
    daemon: {
      stderr: () => stderr,
      stop: async () => {
        child.kill('SIGTERM');
        return { status: await exited, stderr };
      },
    },
  };
}

const COAP = /listening on coap:\/\/127\.0\.0\.1:(\d+)/;
const COAPS = /listening on coaps:\/\/127\.0\.0\.1:(\d+)/;

test('plugtest --dtls-port with a PSK serves coap:// and coaps://; get, put, observe and --psk-key-hex work; a wrong key exits 3', async () => {
  const { daemon, matches } = await startPlugtest(['--host', '127.0.0.1', '--port', '0', '--dtls-port', '0', ...PSK], [COAP, COAPS]);
  const plain = `coap://127.0.0.1:${matches[0]![1]}`;
  const secure = `coaps://127.0.0.1:${matches[1]![1]}`;
  try {
    const get = await runCli(['get', `${secure}/test`, '--json', ...PSK]);
    assert.is(get.status, 0, get.stderr);
    assert.is((JSON.parse(get.stdout) as { code: string }).code, '2.05');
    const hex = await runCli(['get', `${secure}/test`, '--psk-identity', IDENTITY, '--psk-key-hex', Buffer.from(KEY).toString('hex')]);
    assert.is(hex.status, 0, hex.stderr);
    assert.match(hex.stdout, /Code: 0\.01 GET/);
    const put = await runCli(['put', `${secure}/create1`, '--payload', 'sent over dtls', ...PSK]);
    assert.is(put.status, 0, put.stderr);
    const back = await runCli(['get', `${secure}/create1`, ...PSK]);
    assert.is(back.stdout, 'sent over dtls\n');
    const observed = await runCli(['observe', `${secure}/obs`, '--for', '1', '--json', ...PSK]);
    assert.is(observed.status, 0, observed.stderr);
    const first = JSON.parse(observed.stdout.split('\n')[0]!) as { code: string; observe: number | null };
    assert.is(first.code, '2.05');
    assert.type(first.observe, 'number');
    const large = await runCli(['get', `${secure}/large`, ...PSK]);
    assert.is(large.status, 0, large.stderr);
    assert.ok(large.stdout.length > 1024, 'a Block2 body over DTLS');
    const wrong = await runCli(['get', `${secure}/test`, '--psk-identity', IDENTITY, '--psk-key', 'wrong']);
    assert.is(wrong.status, 3, wrong.stderr);
    assert.match(wrong.stderr, /^coap-fleet: DTLS_ERR_BAD_PSK: /);
    const unknown = await runCli(['get', `${secure}/test`, '--psk-identity', 'stranger', '--psk-key', KEY]);
    assert.is(unknown.status, 3, unknown.stderr);
    assert.match(unknown.stderr, /^coap-fleet: DTLS_ERR_UNKNOWN_PSK_IDENTITY: /);
    const clear = await runCli(['get', `${plain}/test`, '--json']);
    assert.is(clear.status, 0, clear.stderr);
  } finally {
    const { status, stderr } = await daemon.stop();
    assert.is(status, 0, stderr);
    assert.match(stderr, /stopped by SIGTERM/);
  }
});

test('get, put, post, delete and observe take a PSK from --credentials FILE, like the operator verbs', async () => {
  const { daemon, matches } = await startPlugtest(['--host', '127.0.0.1', '--port', '0', '--dtls-port', '0', ...PSK], [COAP, COAPS]);
  const secure = `coaps://127.0.0.1:${matches[1]![1]}`;
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-credentials-'));
  const credentials = join(dir, 'operator-cli.json');
  await writeFile(credentials, JSON.stringify({ identity: IDENTITY, key_hex: Buffer.from(KEY).toString('hex') }));
  const withFile = ['--credentials', credentials];
  try {
    for (const [verb, path, extra] of [['get', '/test', []], ['put', '/test', ['--payload', 'x']], ['post', '/test', ['--payload', 'y']], ['delete', '/test', []]] as const) {
      const result = await runCli([verb, `${secure}${path}`, '--json', ...extra, ...withFile]);
      assert.is(result.status, 0, `${verb}: ${result.stderr}`);
      assert.is((JSON.parse(result.stdout) as { code: string }).code.slice(0, 2), '2.', verb);
    }
    const observed = await runCli(['observe', `${secure}/obs`, '--for', '1', '--json', ...withFile]);
    assert.is(observed.status, 0, observed.stderr);
    assert.type((JSON.parse(observed.stdout.split('\n')[0]!) as { observe: unknown }).observe, 'number');
    const both = await runCli(['get', `${secure}/test`, ...withFile, '--psk-key', KEY]);
    assert.is(both.status, 2, both.stderr);
    assert.match(both.stderr, '--credentials does not combine with the other DTLS options');
  } finally {
    await rm(dir, { recursive: true, force: true });
    const { status, stderr } = await daemon.stop();
    assert.is(status, 0, stderr);
  }
});

test('plugtest --coaps with certificates serves DTLS only; a client with --cert/--key/--ca is served, one from another CA exits 3', async () => {
  const { paths } = pki;
  const { daemon, matches } = await startPlugtest(
    ['--host', '127.0.0.1', '--coaps', '--dtls-port', '0', '--cert', paths.serverCert, '--key', paths.serverKey, '--ca', paths.ca], [COAPS],
  );
  const secure = `coaps://127.0.0.1:${matches[0]![1]}`;
  try {
    assert.not.match(daemon.stderr(), COAP);
    const get = await runCli(['get', `${secure}/test`, '--cert', paths.clientCert, '--key', paths.clientKey, '--ca', paths.ca]);
    assert.is(get.status, 0, get.stderr);
    assert.match(get.stdout, /Code: 0\.01 GET/);
    const rogue = await runCli(['get', `${secure}/test`, '--cert', paths.rogueCert, '--key', paths.rogueKey, '--ca', paths.ca]);
    assert.is(rogue.status, 3, rogue.stderr);
    assert.match(rogue.stderr, /^coap-fleet: DTLS_ERR_CERT_[A-Z_]+: /);
    const distrustful = await runCli(['get', `${secure}/test`, '--cert', paths.clientCert, '--key', paths.clientKey, '--ca', paths.rogueCert]);
    assert.is(distrustful.status, 3, distrustful.stderr);
    assert.match(distrustful.stderr, /^coap-fleet: DTLS_ERR_CERT_UNTRUSTED: /);
  } finally {
    const { status, stderr } = await daemon.stop();
    assert.is(status, 0, stderr);
  }
});

test('credentials that do not fit are usage errors (exit 2)', async () => {
  const cases: [readonly string[], RegExp][] = [
    [['get', 'coaps://127.0.0.1:9/x'], /coaps:\/\/ needs DTLS credentials/],
    [['get', 'coap://127.0.0.1:9/x', ...PSK], /need a coaps:\/\/ URI/],
    [['get', 'coaps://127.0.0.1:9/x', '--psk-identity', IDENTITY], /needs --psk-key/],
    [['get', 'coaps://127.0.0.1:9/x', ...PSK, '--ca', pki.paths.ca], /do not combine/],
    [['get', 'coaps://127.0.0.1:9/x', '--psk-identity', IDENTITY, '--psk-key-hex', 'abc'], /hex/],
    [['get', 'coaps://127.0.0.1:9/x', '--cert', pki.paths.clientCert, '--ca', pki.paths.ca], /--cert and --key go together/],
    [['observe', 'coaps://127.0.0.1:9/x', '--cert', pki.paths.clientCert, '--key', pki.paths.clientKey], /--ca FILE/],
    [['plugtest', '--port', '0', ...PSK], /need --dtls-port/],
    [['plugtest', '--coaps', '--dtls-port', '0'], /serving DTLS needs credentials/],
    [['plugtest', '--coaps', '--dtls-port', '0', '--cert', pki.paths.serverCert, '--key', pki.paths.serverKey], /--ca FILE/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
});

test.after(() => pki.remove());

test.run();
