// The coap-fleet command as a real process (bin/coap-fleet.js) against an in-process
// UDP endpoint on loopback: output modes, payload sources, exit statuses, and the
// plugtest subcommand's start and clean stop.

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { bin, root, runCli } from '../helpers/cli.js';

interface Stored {
  payload: Buffer;
  contentFormat: number | undefined;
}

let server: Endpoint;
let base: string;
let stored: Stored = { payload: Buffer.alloc(0), contentFormat: undefined };
let tempDir: string;

test.before(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'coap-fleet-cli-'));
  server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  base = `coap://127.0.0.1:${server.address().port}`;
  server.router.add('/hello', {
    handlers: { GET: () => ({ code: ResponseCode.Content, payload: 'hello world', contentFormat: ContentFormat.TextPlain, maxAge: 30 }) },
  });
  server.router.add('/binary', {
    handlers: { GET: () => ({ code: ResponseCode.Content, payload: Buffer.from([0x00, 0x01, 0xfe, 0xff]), contentFormat: ContentFormat.OctetStream }) },
  });
  server.router.add('/slow', {
    handlers: { GET: async () => {
      await new Promise((resolve) => setTimeout(resolve, 600)); // past the 500 ms before an empty ACK
      return { code: ResponseCode.Content, payload: 'late' };
    } },
  });
  server.router.add('/store', {
    handlers: {
      GET: () => ({
        code: ResponseCode.Content, payload: stored.payload,
        ...(stored.contentFormat === undefined ? {} : { contentFormat: stored.contentFormat }),
      }),
      PUT: (request) => {
        stored = { payload: request.payload, contentFormat: request.contentFormat };
        return { code: ResponseCode.Changed };
      },
      POST: (request) => ({ code: ResponseCode.Created, payload: `accept=${request.accept ?? 'none'}` }),
    },
  });
});

test.after(async () => {
  await server.close();
  await rm(tempDir, { recursive: true, force: true });
});

test('get prints a text payload ending with a newline and exits 0', async () => {
  const result = await runCli(['get', `${base}/hello`]);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stdout, 'hello world\n');
  assert.is(result.stderr, '');
});

test('put --payload sends the text with the --content-format given by short name', async () => {
  const result = await runCli(['put', `${base}/store`, '--payload', '{"a":1}', '--content-format', 'json']);
  assert.is(result.status, 0, result.stderr);
  assert.is(stored.payload.toString(), '{"a":1}');
  assert.is(stored.contentFormat, ContentFormat.Json);
});

test('put --file sends the bytes of a file', async () => {
  const path = join(tempDir, 'payload.bin');
  const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x0a]);
  await writeFile(path, bytes);
  const result = await runCli(['put', `${base}/store`, '--file', path, '--content-format', 'application/octet-stream']);
  assert.is(result.status, 0, result.stderr);
  assert.ok(stored.payload.equals(bytes));
  assert.is(stored.contentFormat, ContentFormat.OctetStream);
});

test('put --file - reads the payload from stdin', async () => {
  const result = await runCli(['put', `${base}/store`, '--file', '-'], { input: 'from stdin\n' });
  assert.is(result.status, 0, result.stderr);
  assert.is(stored.payload.toString(), 'from stdin\n');
  assert.is(stored.contentFormat, undefined);
});

test('post --accept sends Accept and a 2.01 exits 0', async () => {
  const result = await runCli(['post', `${base}/store`, '--accept', 'cbor', '--payload', 'x']);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stdout, `accept=${ContentFormat.Cbor}\n`);
});

test('--json prints one object with the dotted code, options by name and a text payload', async () => {
  const result = await runCli(['get', `${base}/hello`, '--json']);
  assert.is(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.is(lines.length, 1);
  const json = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.is(json.code, '2.05');
  assert.is(json.codeName, 'Content');
  assert.is(json.type, 'ACK');
  assert.is(json.contentFormat, 0);
  assert.is(json.payload, 'hello world');
  assert.is(json.payloadEncoding, 'utf8');
  assert.equal(json.options, [
    { number: 12, name: 'Content-Format', value: '0' },
    { number: 14, name: 'Max-Age', value: '30' },
  ]);
});

test('--json carries a binary payload as base64', async () => {
  const result = await runCli(['get', `${base}/binary`, '--json']);
  assert.is(result.status, 0, result.stderr);
  const json = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.is(json.payloadEncoding, 'base64');
  assert.is(json.payload, Buffer.from([0x00, 0x01, 0xfe, 0xff]).toString('base64'));
});

test('-v prints the code, the type and each option by name before the payload', async () => {
  const result = await runCli(['get', `${base}/hello`, '-v']);
  assert.is(result.status, 0, result.stderr);
  const [header, payload] = result.stdout.split('\n\n');
  assert.match(header!, /^2\.05 Content \(ACK\) from 127\.0\.0\.1:\d+$/m);
  assert.match(header!, /^Content-Format: 0 \(text\/plain;charset=utf-8\)$/m);
  assert.match(header!, /^Max-Age: 30$/m);
  assert.is(payload, 'hello world\n');
});

test('a separate response is printed and acknowledged before the process exits', async () => {
  const result = await runCli(['get', `${base}/slow`, '-v']);
  assert.is(result.status, 0, result.stderr);
  assert.match(result.stdout, /^2\.05 Content \(CON\)/);
  assert.ok(result.stdout.endsWith('\n\nlate\n'));
  // Unacknowledged, the server would still be retransmitting its CON response.
  assert.is(server.messageLayer.sizes.outstanding, 0);
});

test('a 4.04 response exits 1 and names the code on stderr', async () => {
  const result = await runCli(['get', `${base}/missing`]);
  assert.is(result.status, 1);
  assert.match(result.stderr, /4\.04 Not Found/);
  const json = await runCli(['delete', `${base}/missing`, '--json']);
  assert.is(json.status, 1);
  assert.is((JSON.parse(json.stdout) as { code: string }).code, '4.04');
});

test('a bad URI exits 2 with a one-line reason and no request', async () => {
  const result = await runCli(['get', 'coap//nowhere/x']);
  assert.is(result.status, 2);
  assert.match(result.stderr, /^coap-fleet: COAP_ERR_URI: not an absolute URI.*\n$/, 'one line');
  const scheme = await runCli(['get', 'http://127.0.0.1/x']);
  assert.is(scheme.status, 2);
  assert.match(scheme.stderr, /unsupported scheme "http"/);
});

test('usage mistakes exit 2: unknown command, unknown option, missing URI, bad format', async () => {
  for (const args of [['frobnicate'], ['get', `${base}/hello`, '--bogus'], ['get'], ['put', `${base}/store`, '--content-format', 'nonsense'],
    ['get', `${base}/hello`, '--timeout', 'soon'], ['put', `${base}/store`, '--payload', 'a', '--file', '-']]) {
    const result = await runCli(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^coap-fleet: CLI_ERR_USAGE: .+\n$/, args.join(' '));
  }
});

test('help, --help and no arguments print the subcommands and exit 0', async () => {
  for (const args of [[], ['help'], ['--help']]) {
    const result = await runCli(args);
    assert.is(result.status, 0);
    for (const name of ['get|put|post|delete', 'observe', 'plugtest', 'fault-proxy']) assert.ok(result.stdout.includes(name), `${name} in ${args.join(' ')}`);
  }
  const command = await runCli(['put', '--help']);
  assert.is(command.status, 0);
  assert.match(command.stdout, /--content-format F/);
});

test('a request to a port where nothing answers, with --timeout 1, exits 3 within a few seconds', async () => {
  // A port that was just ours and is now closed: the kernel answers ICMP or nothing.
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  const result = await runCli(['get', `coap://127.0.0.1:${port}/x`, '--timeout', '1'], { killAfterMs: 8_000 });
  assert.is(result.status, 3, result.stderr);
  assert.ok(result.elapsedMs < 5_000, `took ${result.elapsedMs} ms`);
  assert.match(result.stderr, /^coap-fleet: COAP_ERR_[A-Z_]+: .+\n$/);
});

interface Daemon {
  /** The first match of `ready` in its stderr. */
  readonly ready: RegExpExecArray;
  /** Sends SIGTERM and waits for the exit status and everything written to stderr. */
  stop(): Promise<{ status: number | null; stderr: string }>;
}

/** Starts a long-running subcommand and waits until its stderr matches `ready`. Killed
 * hard after 15 s whatever happens, so a hang fails the test instead of the whole run. */
async function startDaemon(args: readonly string[], ready: RegExp): Promise<Daemon> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (status) => {
    clearTimeout(killer);
    resolve(status);
  }));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const found = ready.exec(stderr);
      if (found !== null) resolve(found);
    });
    void exited.then(() => reject(new Error(`${args[0]} exited before it was ready: ${stderr}`)));
  });
  return {
    ready: match,
    stop: async () => {
      child.kill('SIGTERM');
      const status = await exited;
      return { status, stderr };
    },
  };
}

test('plugtest serves /test on the port it reports and exits 0 on SIGTERM', async () => {
  const plugtest = await startDaemon(['plugtest', '--port', '0', '--host', '127.0.0.1'], /listening on coap:\/\/127\.0\.0\.1:(\d+)/);
  try {
    const result = await runCli(['get', `coap://127.0.0.1:${plugtest.ready[1]}/test`, '--json']);
    assert.is(result.status, 0, result.stderr);
    assert.is((JSON.parse(result.stdout) as { code: string }).code, '2.05');
  } finally {
    const { status, stderr } = await plugtest.stop();
    assert.is(status, 0, stderr);
    assert.match(stderr, /stopped by SIGTERM/);
  }
});

test('fault-proxy forwards requests to its target, and prints its counts when stopped', async () => {
  const target = `127.0.0.1:${server.address().port}`;
  const proxy = await startDaemon(
    ['fault-proxy', '--listen', '127.0.0.1:0', '--target', target, '--duplication', '1', '--seed', '7'],
    /listening on 127\.0\.0\.1:(\d+)/,
  );
  let stopped: { status: number | null; stderr: string } | undefined;
  try {
    const result = await runCli(['get', `coap://127.0.0.1:${proxy.ready[1]}/hello`]);
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout, 'hello world\n');
  } finally {
    stopped = await proxy.stop();
  }
  assert.is(stopped.status, 0, stopped.stderr);
  const counts = /stopped by SIGTERM: (\{.*\})$/m.exec(stopped.stderr);
  assert.ok(counts !== null, stopped.stderr);
  const stats = JSON.parse(counts[1]!) as { toTarget: { forwarded: number; duplicated: number } };
  assert.is(stats.toTarget.forwarded, 1);
  assert.is(stats.toTarget.duplicated, 1, 'duplication 1 sends every datagram twice');
});

test('fault-proxy refuses bad arguments with exit 2', async () => {
  for (const args of [['fault-proxy', '--target', '127.0.0.1:1'], ['fault-proxy', '--listen', '127.0.0.1', '--target', '127.0.0.1:1'],
    ['fault-proxy', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:1', '--loss', '1.5'],
    ['fault-proxy', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:1', '--seed', '-3']]) {
    const result = await runCli(args);
    assert.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^coap-fleet: CLI_ERR_USAGE: /);
  }
});

test.run();
