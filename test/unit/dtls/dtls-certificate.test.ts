import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsContext, type DtlsContextOptions } from '../../../src/dtls/context.js';
import { DtlsModule } from '../../../src/dtls/wasm-module.js';
import { ensureWasm } from '../../helpers/wasm.js';
import { connectLink, makePki } from './dtls-fixtures.js';

await ensureWasm();
const module = await DtlsModule.load();
const pki = makePki();

const serverOptions = (extra: Partial<DtlsContextOptions> = {}): DtlsContextOptions => ({
  module, role: 'server', mode: 'certificate', certificates: { ca: pki.ca, ...pki.server }, ...extra,
});
const clientOptions = (extra: Partial<DtlsContextOptions> = {}): DtlsContextOptions => ({
  module, role: 'client', mode: 'certificate', certificates: { ca: pki.ca, ...pki.client }, ...extra,
});

test('an ECDHE-ECDSA P-256 mutual-auth handshake gives each side the other certificate subject', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions({ serverName: 'gateway' }));
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is(link.client.state, 'established');
    assert.is(link.server?.state, 'established');
    assert.is(link.server?.identity, 'O=coap-fleet, CN=node:7');
    assert.is(link.client.identity, 'CN=gateway');
    link.client.send(Buffer.from('PUT /nodes/7/health'));
    link.server!.send(Buffer.from('2.04'));
    link.flush();
    assert.equal(link.serverApp.map(String), ['PUT /nodes/7/health']);
    assert.equal(link.clientApp.map(String), ['2.04']);
  } finally {
    client.close();
    server.close();
  }
});

test('a client certificate from another CA is rejected (DTLS_ERR_CERT_UNTRUSTED both sides); the server keeps serving', () => {
  const server = new DtlsContext(module, serverOptions());
  const rogue = new DtlsContext(module, clientOptions({ certificates: { ca: pki.ca, ...pki.rogue } }));
  const good = new DtlsContext(module, clientOptions());
  try {
    const link = connectLink(rogue, server, '127.0.0.1|1');
    link.flush();
    assert.is(link.server?.state, 'failed');
    assert.is(link.server?.error?.code, 'DTLS_ERR_CERT_UNTRUSTED');
    assert.is(link.server?.error?.byPeer, false);
    assert.is(link.client.error?.code, 'DTLS_ERR_CERT_UNTRUSTED');
    assert.is(link.client.error?.alert, 48, 'unknown_ca');
    assert.is(link.client.error?.byPeer, true);
    const next = connectLink(good, server, '127.0.0.1|2');
    next.flush();
    assert.is(next.server?.identity, 'O=coap-fleet, CN=node:7');
  } finally {
    for (const context of [rogue, good, server]) context.close();
  }
});

test('a revoked client certificate fails the handshake (DTLS_ERR_CERT_REVOKED, alert certificate_revoked); the check sees its serial and subject', () => {
  const seen: { serial: string; subject: string }[] = [];
  let revokedSerial: string | undefined;
  const server = new DtlsContext(module, serverOptions({
    revoked: (certificate) => {
      seen.push({ ...certificate });
      return certificate.serial === revokedSerial;
    },
  }));
  const client = new DtlsContext(module, clientOptions());
  try {
    const before = connectLink(client, server, '127.0.0.1|1');
    before.flush();
    assert.is(before.server?.state, 'established');
    assert.is(seen.length, 1);
    assert.is(seen[0]!.subject, 'O=coap-fleet, CN=node:7');
    assert.match(seen[0]!.serial, /^[1-9a-f][0-9a-f]*$/);
    assert.equal(before.server?.peerCertificate, seen[0]);
    revokedSerial = seen[0]!.serial;
    const after = connectLink(client, server, '127.0.0.1|2');
    after.flush();
    assert.is(after.server?.error?.code, 'DTLS_ERR_CERT_REVOKED');
    assert.is(after.client.error?.alert, 44, 'certificate_revoked');
    assert.is(after.client.error?.code, 'DTLS_ERR_CERT_REVOKED', 'the client learns why');
  } finally {
    client.close();
    server.close();
  }
});

test('a replaced own certificate is the one the next handshake presents; a broken pair is refused and the old one kept', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions({ certificates: { ca: pki.ca, ...pki.rogue } }));
  try {
    const refused = connectLink(client, server, '127.0.0.1|1');
    refused.flush();
    assert.is(refused.server?.error?.code, 'DTLS_ERR_CERT_UNTRUSTED');
    client.replaceOwnCertificate(pki.client.cert, pki.client.key);
    assert.throws(() => client.replaceOwnCertificate(pki.client.cert, '-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n'),
      (error: unknown) => (error as { code?: string }).code === 'DTLS_ERR_CONFIG');
    const accepted = connectLink(client, server, '127.0.0.1|2');
    accepted.flush();
    assert.is(accepted.server?.state, 'established');
    assert.is(accepted.server?.identity, 'O=coap-fleet, CN=node:7');
  } finally {
    client.close();
    server.close();
  }
});

test('a client without a certificate is refused by default (DTLS_ERR_CERT_REQUIRED), accepted when not required', () => {
  const strict = new DtlsContext(module, serverOptions());
  const lenient = new DtlsContext(module, serverOptions({ requireClientCertificate: false }));
  const anonymous = new DtlsContext(module, clientOptions({ certificates: { ca: pki.ca } }));
  try {
    const refused = connectLink(anonymous, strict);
    refused.flush();
    assert.is(refused.server?.error?.code, 'DTLS_ERR_CERT_REQUIRED');
    assert.is(refused.client.error?.code, 'DTLS_ERR_CERT_REQUIRED', 'the client learns why from the handshake_failure alert');
    const accepted = connectLink(anonymous, lenient);
    accepted.flush();
    assert.is(accepted.server?.state, 'established');
    assert.is(accepted.server?.identity, undefined, 'no identity without a certificate');
    assert.is(accepted.client.identity, 'CN=gateway');
  } finally {
    for (const context of [anonymous, strict, lenient]) context.close();
  }
});

test('a server certificate the client does not trust fails the client with DTLS_ERR_CERT_UNTRUSTED', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions({ certificates: { ca: pki.otherCa, ...pki.client } }));
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is(link.client.error?.code, 'DTLS_ERR_CERT_UNTRUSTED');
    assert.is(link.client.error?.byPeer, false);
    assert.is(link.server?.state, 'failed');
    assert.is(link.server?.error?.code, 'DTLS_ERR_CERT_UNTRUSTED', 'the server learns it from unknown_ca');
  } finally {
    client.close();
    server.close();
  }
});

test('a server name the certificate does not carry fails with DTLS_ERR_CERT_NAME_MISMATCH', () => {
  const server = new DtlsContext(module, serverOptions());
  const client = new DtlsContext(module, clientOptions({ serverName: 'not-the-gateway' }));
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is(link.client.error?.code, 'DTLS_ERR_CERT_NAME_MISMATCH');
  } finally {
    client.close();
    server.close();
  }
});

test('an expired client certificate fails with DTLS_ERR_CERT_EXPIRED (the server clock moved 60 days on)', async () => {
  const later = await DtlsModule.load({ wallClock: () => Date.now() + 60 * 86_400_000 });
  const server = new DtlsContext(later, { ...serverOptions(), module: later });
  const client = new DtlsContext(module, clientOptions());
  try {
    const link = connectLink(client, server);
    link.flush();
    assert.is(link.server?.error?.code, 'DTLS_ERR_CERT_EXPIRED');
    assert.is(link.client.error?.code, 'DTLS_ERR_CERT_EXPIRED');
    assert.is(link.client.error?.alert, 45, 'certificate_expired');
  } finally {
    client.close();
    server.close();
  }
});

test.after(() => pki.remove());
test.run();
