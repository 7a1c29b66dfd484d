// The fleet CA (keys ca init / keys issue): what is written and with which modes, that the
// chain verifies with node:crypto and with OpenSSL's own verifier, subjects that map to
// principals, the gateway's SAN, and the refusals (existing files, bad ids).

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeSerial } from '../../../src/fleet/certificate-serial.js';
import { checkCsr, createCsr, generateKeyPair, isIssuedBy, keyPairFromPem, readCertificate, subjectFor } from '../../../src/fleet/certificates.js';
import { CertificateError } from '../../../src/fleet/errors.js';
import { principalFromIdentity } from '../../../src/fleet/identity.js';
import { initCertificateAuthority, issueFor } from '../../../src/operator/certificate-authority.js';
import { InvalidIdError, KeysExistError } from '../../../src/operator/errors.js';

let dir: string;
test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'coap-fleet-ca-')); });
test.after(async () => { await rm(dir, { recursive: true, force: true }); });

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const options = (out: string) => ({ days: 30, outDirectory: out, overwrite: false });

test('ca init with an intermediate: keys 0600 in a 0700 directory; the intermediate is signed by the root and may not sign CAs', async () => {
  const ca = join(dir, 'ca');
  const files = await initCertificateAuthority(ca, { intermediate: true, days: 10, overwrite: false });
  assert.equal(files.map((file) => file.slice(ca.length + 1)), ['ca.crt', 'ca.key', 'intermediate.crt', 'intermediate.key', 'ca-bundle.pem']);
  assert.is(await readFile(join(ca, 'ca-bundle.pem'), 'utf8'), await readFile(join(ca, 'ca.crt'), 'utf8') + await readFile(join(ca, 'intermediate.crt'), 'utf8'));
  assert.is(await mode(ca), 0o700);
  assert.is(await mode(join(ca, 'ca.key')), 0o600);
  assert.is(await mode(join(ca, 'intermediate.key')), 0o600);
  const root = await readFile(join(ca, 'ca.crt'), 'utf8');
  const intermediate = await readFile(join(ca, 'intermediate.crt'), 'utf8');
  assert.ok(new X509Certificate(root).ca);
  assert.ok(isIssuedBy(intermediate, root));
  assert.ok(/pathlen:0/.test(execFileSync('openssl', ['x509', '-noout', '-ext', 'basicConstraints'], { input: intermediate }).toString()));
  try {
    await initCertificateAuthority(ca, { intermediate: false, days: 10, overwrite: false });
    assert.unreachable('an existing CA was overwritten');
  } catch (error) {
    assert.instance(error, KeysExistError);
  }
});

test('issued certificates: the subject is the principal, the chain verifies with openssl, the gateway has its names in the SAN', async () => {
  const ca = join(dir, 'ca');
  const out = join(dir, 'issued');
  const node = await issueFor(ca, { kind: 'node', id: 'n1' }, options(out));
  const operator = await issueFor(ca, { kind: 'operator', name: 'alice' }, options(out));
  const gateway = await issueFor(ca, { kind: 'gateway', hosts: ['gw.example', '127.0.0.1'] }, options(out));
  assert.is(await mode(node.keyFile), 0o600);
  assert.equal(principalFromIdentity(node.summary.subject), { role: 'node', name: 'n1' });
  assert.equal(principalFromIdentity(operator.summary.subject), { role: 'operator', name: 'alice' });
  assert.is(principalFromIdentity(gateway.summary.subject), undefined);
  for (const issued of [node, operator, gateway]) {
    const verdict = execFileSync('openssl', ['verify', '-CAfile', join(ca, 'ca.crt'), '-untrusted', join(ca, 'intermediate.crt'), issued.certificateFile]).toString();
    assert.match(verdict, /: OK/);
  }
  const gatewayCertificate = new X509Certificate(await readFile(gateway.certificateFile));
  assert.is(gatewayCertificate.checkHost('gw.example'), 'gw.example');
  assert.is(gatewayCertificate.checkIP('127.0.0.1'), '127.0.0.1');
  assert.is(gatewayCertificate.checkHost('other.example'), undefined);
  const days = (node.summary.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 29.9 && days <= 30, `validity ${days} days`);
  // The key goes with the certificate.
  const keys = await keyPairFromPem(await readFile(node.keyFile, 'utf8'));
  assert.ok(keys.privateKey.type === 'private');
  try {
    await issueFor(ca, { kind: 'node', id: 'n1' }, options(out));
    assert.unreachable('an issued certificate was overwritten');
  } catch (error) {
    assert.instance(error, KeysExistError);
  }
  for (const target of [{ kind: 'node', id: 'a/b' }, { kind: 'gateway', hosts: [''] }] as const) {
    try {
      await issueFor(ca, target, options(out));
      assert.unreachable(`${JSON.stringify(target)} was issued`);
    } catch (error) {
      assert.instance(error, InvalidIdError);
    }
  }
});

test('a CSR carries its subject and verifies; a tampered one does not', async () => {
  const keys = await generateKeyPair();
  const der = await createCsr(subjectFor({ role: 'node', name: 'n7' }), keys);
  const checked = await checkCsr(der, principalFromIdentity);
  assert.equal(checked.principal, { role: 'node', name: 'n7' });
  const tampered = Buffer.from(der);
  tampered[tampered.length - 5]! ^= 0x01;
  try {
    await checkCsr(tampered, principalFromIdentity);
    assert.unreachable('a tampered CSR was accepted');
  } catch (error) {
    assert.instance(error, CertificateError);
  }
});

test('serials compare in any spelling', () => {
  assert.is(normalizeSerial('0A:1b:00'), 'a1b00');
  assert.is(normalizeSerial(readCertificate(execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x', '-set_serial', '0x00ff', '-days', '1'])).serial), 'ff');
  assert.throws(() => normalizeSerial('xyz'), (error: unknown) => error instanceof CertificateError);
});

test.run();
