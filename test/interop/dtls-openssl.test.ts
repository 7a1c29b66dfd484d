// Our DTLS 1.2 client and server against `openssl s_server` / `s_client -dtls1_2` on
// loopback: PSK (PSK-AES128-CCM8) and P-256 certificates (ECDHE-ECDSA-AES128-CCM8) with a
// required client certificate, application data both ways, typed errors on rejection.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsContext, type DtlsContextOptions } from '../../src/dtls/context.js';
import type { DtlsSession } from '../../src/dtls/session.js';
import { DtlsModule } from '../../src/dtls/wasm-module.js';
import { ensureWasm } from '../helpers/wasm.js';
import { makePki } from '../unit/dtls/dtls-fixtures.js';

await ensureWasm();
const module = await DtlsModule.load();
const pki = makePki();
const PSK_HEX = '00112233445566778899aabbccddeeff';
const PSK = Buffer.from(PSK_HEX, 'hex');
const WAIT_MS = 10_000;

async function waitFor(what: string, condition: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function bindSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => { socket.off('error', reject); resolve(); });
  });
  return socket;
}

async function freePort(): Promise<number> {
  const socket = await bindSocket();
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

interface OpenSsl {
  readonly child: ChildProcessWithoutNullStreams;
  output(): string;
  stop(): Promise<void>;
}

function openssl(args: string[]): OpenSsl {
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('latin1'); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('latin1'); });
  child.stdin.on('error', () => { /* the process may be gone */ });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
    },
  };
}

/** Retransmits on the session's own schedule until it leaves the handshake. */
function driveTimer(session: DtlsSession): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const delay = session.nextTimeoutMs();
    if (delay !== undefined && session.state === 'handshaking') timer = setTimeout(() => { session.onTimer(); arm(); }, delay);
  };
  arm();
  return arm;
}

/** Our client on a UDP socket, talking to 127.0.0.1:port. */
async function ourClient(options: DtlsContextOptions, port: number) {
  const context = new DtlsContext(module, options);
  const socket = await bindSocket();
  const app: Buffer[] = [];
  const session = context.connect({ onSend: (datagram) => socket.send(datagram, port, '127.0.0.1') });
  const rearm = driveTimer(session);
  socket.on('message', (datagram) => {
    app.push(...session.receive(datagram).app);
    rearm();
  });
  return {
    session, app,
    close: async () => {
      session.destroy();
      rearm();
      context.close();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

/** Our server on a UDP socket: the cookie exchange through accept(), one session per peer. */
async function ourServer(options: DtlsContextOptions) {
  const context = new DtlsContext(module, options);
  const socket = await bindSocket();
  const sessions = new Map<string, DtlsSession>();
  const app: Array<{ identity: string | undefined; data: string }> = [];
  socket.on('message', (datagram, from) => {
    const peer = `${from.address}|${from.port}`;
    const send = (data: Buffer): void => { socket.send(data, from.port, from.address); };
    const existing = sessions.get(peer);
    if (existing !== undefined && existing.state !== 'failed' && existing.state !== 'closed') {
      for (const record of existing.receive(datagram).app) {
        app.push({ identity: existing.identity, data: record.toString() });
        existing.send(Buffer.from(`pong: ${record.toString()}`));
      }
      return;
    }
    const result = context.accept(datagram, peer, { onSend: send });
    if (result.kind === 'verify') send(result.reply);
    else if (result.kind === 'session') sessions.set(peer, result.session);
  });
  return {
    port: socket.address().port, sessions, app,
    only: (): DtlsSession | undefined => [...sessions.values()].at(-1),
    close: async () => {
      context.close();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

const pskServerArgs = (port: number) => ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`, '-psk', PSK_HEX, '-psk_identity', 'node:1', '-cipher', 'PSK-AES128-CCM8', '-nocert'];
const certServerArgs = (port: number) => ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`, '-cipher', 'ECDHE-ECDSA-AES128-CCM8',
  '-cert', pki.paths.serverCert, '-key', pki.paths.serverKey, '-CAfile', pki.paths.ca, '-Verify', '1', '-verify_return_error'];
const pskClientArgs = (port: number, key = PSK_HEX) => ['s_client', '-dtls1_2', '-connect', `127.0.0.1:${port}`, '-psk', key, '-psk_identity', 'node:1', '-cipher', 'PSK-AES128-CCM8'];
const certClientArgs = (port: number, who: 'client' | 'rogue' | 'none') => [
  's_client', '-dtls1_2', '-connect', `127.0.0.1:${port}`, '-cipher', 'ECDHE-ECDSA-AES128-CCM8', '-CAfile', pki.paths.ca, '-verify_return_error',
  ...(who === 'none' ? [] : ['-cert', who === 'client' ? pki.paths.clientCert : pki.paths.rogueCert, '-key', who === 'client' ? pki.paths.clientKey : pki.paths.rogueKey]),
];

async function clientAgainstOpensslServer(args: (port: number) => string[], options: DtlsContextOptions) {
  const port = await freePort();
  const server = openssl(args(port));
  try {
    await waitFor('s_server to listen', () => server.output().includes('ACCEPT'));
    const client = await ourClient(options, port);
    return { server, client };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

test('our PSK client completes a handshake with openssl s_server and exchanges data both ways', async () => {
  const { server, client } = await clientAgainstOpensslServer(pskServerArgs, { module, role: 'client', mode: 'psk', psk: { identity: 'node:1', key: PSK } });
  try {
    await waitFor('the handshake', () => client.session.state !== 'handshaking');
    assert.is(client.session.state, 'established', client.session.error?.message);
    process.stdout.write(`PSK handshake with s_server: ${client.session.handshakeMs?.toFixed(1)} ms\n`);
    client.session.send(Buffer.from('hello from coap-fleet\n'));
    await waitFor('s_server to print our data', () => server.output().includes('hello from coap-fleet'));
    server.child.stdin.write('hello from openssl\n');
    await waitFor('openssl data', () => client.app.length > 0);
    assert.is(Buffer.concat(client.app).toString(), 'hello from openssl\n');
  } finally {
    await client.close();
    await server.stop();
  }
});

test('openssl s_client completes a PSK handshake with our server, which learns its identity', async () => {
  const server = await ourServer({ module, role: 'server', mode: 'psk', pskLookup: (identity) => (identity === 'node:1' ? PSK : undefined) });
  const client = openssl(pskClientArgs(server.port));
  try {
    await waitFor('the handshake', () => server.only()?.state === 'established');
    client.child.stdin.write('ping from openssl\n');
    await waitFor('openssl data', () => server.app.length > 0);
    assert.equal(server.app[0], { identity: 'node:1', data: 'ping from openssl\n' });
    await waitFor('s_client to print our answer', () => client.output().includes('pong: ping from openssl'));
  } finally {
    await client.stop();
    await server.close();
  }
});

test('openssl s_client with the wrong PSK: our server fails the session with DTLS_ERR_BAD_PSK', async () => {
  const server = await ourServer({ module, role: 'server', mode: 'psk', pskLookup: () => PSK });
  const client = openssl(pskClientArgs(server.port, 'ffeeddccbbaa99887766554433221100'));
  try {
    await waitFor('the handshake to fail', () => server.only()?.state === 'failed');
    assert.is(server.only()?.error?.code, 'DTLS_ERR_BAD_PSK');
    await waitFor('s_client to report the alert', () => /bad record mac/i.test(client.output()));
  } finally {
    await client.stop();
    await server.close();
  }
});

test('our certificate client completes a mutual-auth handshake with openssl s_server -Verify 1', async () => {
  const { server, client } = await clientAgainstOpensslServer(certServerArgs, {
    module, role: 'client', mode: 'certificate', certificates: { ca: pki.ca, ...pki.client }, serverName: 'gateway',
  });
  try {
    await waitFor('the handshake', () => client.session.state !== 'handshaking');
    assert.is(client.session.state, 'established', client.session.error?.message);
    process.stdout.write(`ECDHE-ECDSA handshake with s_server: ${client.session.handshakeMs?.toFixed(1)} ms\n`);
    assert.is(client.session.identity, 'CN=gateway');
    await waitFor('s_server to verify our certificate', () => /depth=0 O = coap-fleet, CN = node:7/.test(server.output()));
    client.session.send(Buffer.from('hello over ECDHE-ECDSA\n'));
    await waitFor('s_server to print our data', () => server.output().includes('hello over ECDHE-ECDSA'));
    server.child.stdin.write('hi back\n');
    await waitFor('openssl data', () => client.app.length > 0);
    assert.is(Buffer.concat(client.app).toString(), 'hi back\n');
  } finally {
    await client.close();
    await server.stop();
  }
});

test('openssl s_server rejects our client certificate from another CA, and our client without one', async () => {
  for (const [certificates, code] of [
    [{ ca: pki.ca, ...pki.rogue }, 'DTLS_ERR_CERT_UNTRUSTED'],
    [{ ca: pki.ca }, 'DTLS_ERR_CERT_REQUIRED'],
  ] as const) {
    const { server, client } = await clientAgainstOpensslServer(certServerArgs, { module, role: 'client', mode: 'certificate', certificates });
    try {
      await waitFor('the handshake to fail', () => client.session.state !== 'handshaking');
      assert.is(client.session.state, 'failed');
      assert.is(client.session.error?.code, code, client.session.error?.message);
      assert.is(client.session.error?.byPeer, true);
    } finally {
      await client.close();
      await server.stop();
    }
  }
});

test('openssl s_client with a client certificate completes a handshake with our server, which learns its subject', async () => {
  const server = await ourServer({ module, role: 'server', mode: 'certificate', certificates: { ca: pki.ca, ...pki.server } });
  const client = openssl(certClientArgs(server.port, 'client'));
  try {
    await waitFor('the handshake', () => server.only()?.state === 'established');
    await waitFor('s_client to verify our certificate', () => client.output().includes('Verification: OK'));
    client.child.stdin.write('ping with a certificate\n');
    await waitFor('openssl data', () => server.app.length > 0);
    assert.equal(server.app[0], { identity: 'O=coap-fleet, CN=node:7', data: 'ping with a certificate\n' });
    await waitFor('s_client to print our answer', () => client.output().includes('pong: ping with a certificate'));
  } finally {
    await client.stop();
    await server.close();
  }
});

test('our server rejects openssl s_client with a certificate from another CA, or none, with typed errors', async () => {
  for (const [who, code, alert] of [['rogue', 'DTLS_ERR_CERT_UNTRUSTED', /unknown ca/i], ['none', 'DTLS_ERR_CERT_REQUIRED', /handshake failure/i]] as const) {
    const server = await ourServer({ module, role: 'server', mode: 'certificate', certificates: { ca: pki.ca, ...pki.server } });
    const client = openssl(certClientArgs(server.port, who));
    try {
      await waitFor('the handshake to fail', () => server.only()?.state === 'failed');
      assert.is(server.only()?.error?.code, code);
      await waitFor('s_client to report the alert', () => alert.test(client.output()));
    } finally {
      await client.stop();
      await server.close();
    }
  }
});

test.after(() => pki.remove());
test.run();
