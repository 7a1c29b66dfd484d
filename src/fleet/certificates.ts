// The fleet's X.509 (DESIGN §6, RFC 5280): P-256 key pairs, certificates for a CA, an
// intermediate and the three kinds of end entity (node, operator: client; gateway: server
// with a SAN), PKCS#10 requests (RFC 2986, EST RFC 9148) and the subjects that map to
// principals. Issued with @peculiar/x509 (pure JS over WebCrypto: it runs on a device
// with no compiler and no openssl binary); read and checked with node:crypto's X509Certificate.

// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata
// API: the polyfill must be evaluated before the library (its README says so).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { normalizeSerial } from './certificate-serial.js';
import { CertificateError } from './errors.js';
import type { Principal } from './identity.js';

// The project's lib (ES2023, no DOM) has no global WebCrypto types, which the library's
// signatures name: node's webcrypto objects are those, so they are passed through `never`.
x509.cryptoProvider.set(webcrypto as never);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA on P-256 with SHA-256: the one curve of the CoAP certificate suite (RFC 7252 §9.1.3.3). */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** The organization every fleet subject carries; the CN says who. */
export const SUBJECT_ORGANIZATION = 'coap-fleet';
/** Serial numbers: 16 random bytes, positive (RFC 5280 §4.1.2.2 allows up to 20 octets). */
const SERIAL_BYTES = 16;
const DAY_MS = 86_400_000;

export type CertificateKind = 'root' | 'intermediate' | 'client' | 'server';

/** A certificate with the key that signs with it (a CA, or an end entity's own). */
export interface KeyedCertificate {
  readonly certificate: string;
  readonly keys: CryptoKeyPair;
}

export interface IssueRequest {
  readonly kind: CertificateKind;
  /** RFC 4514 text, e.g. subjectFor({role: 'node', name: 'n1'}). */
  readonly subject: string;
  readonly publicKey: webcrypto.CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** server: the names the certificate is valid for (DNS names or IP addresses). */
  readonly altNames?: readonly string[];
  /** Absent: self-signed (kind 'root'; then `publicKey` must be that pair's). */
  readonly issuer?: KeyedCertificate;
  /** root, self-signed: its private key. */
  readonly selfKeys?: CryptoKeyPair;
}

export function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** The private key as SEC 1 PEM ("EC PRIVATE KEY"), which mbedTLS and OpenSSL both read. */
export async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'pem' }).toString();
}

/** A key pair from a private key in PEM (SEC 1 or PKCS#8); its public half derived. */
export async function keyPairFromPem(pem: string): Promise<CryptoKeyPair> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new CertificateError(`not a private key in PEM: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertificateError('the private key is not a P-256 key');
  }
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, ALGORITHM, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, ALGORITHM, true, ['verify']),
  };
}

/** The subject of a principal's certificate: "CN=node:n1, O=coap-fleet" (DESIGN §6). */
export function subjectFor(principal: Principal): string {
  return `CN=${principal.role}:${principal.name}, O=${SUBJECT_ORGANIZATION}`;
}

/** A fresh serial number in hex, positive and not zero. */
export function newSerial(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Validity of `days` from now (a minute back, for clocks a little behind ours). */
export function validityFor(days: number, now = Date.now()): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) };
}

/** Issues one certificate (PEM), with the extensions its kind needs (RFC 5280 §4.2):
 * CAs may sign certificates (a root one level of intermediates), end entities only sign
 * handshakes, clients for clientAuth, servers for serverAuth with their names in the SAN. */
export async function issueCertificate(request: IssueRequest): Promise<string> {
  const signer = request.issuer?.keys ?? request.selfKeys;
  if (signer === undefined) throw new CertificateError('a certificate needs an issuer or, for a root, its own keys');
  const issuerCertificate = request.issuer === undefined ? undefined : new x509.X509Certificate(request.issuer.certificate);
  const extensions: x509.Extension[] = [...kindExtensions(request.kind, request.altNames ?? [])];
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(request.publicKey as never));
  if (issuerCertificate !== undefined) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCertificate));
  }
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: request.subject,
    issuer: issuerCertificate?.subject ?? request.subject,
    notBefore: request.notBefore,
    notAfter: request.notAfter,
    publicKey: request.publicKey as never,
    signingKey: signer.privateKey as never,
    signingAlgorithm: ALGORITHM,
    extensions,
  });
  // PEM files end with a newline, so that chains concatenate (RFC 7468 §2).
  return `${certificate.toString('pem').trimEnd()}\n`;
}

/** A PKCS#10 request (RFC 2986) for `subject`, signed with `keys` (proof of possession),
 * in DER as EST carries it (RFC 9148 §5: application/pkcs10). */
export async function createCsr(subject: string, keys: CryptoKeyPair): Promise<Buffer> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject, keys: keys as never, signingAlgorithm: ALGORITHM,
  });
  return Buffer.from(csr.rawData);
}

export interface CheckedCsr {
  readonly subject: string;
  readonly principal: Principal | undefined;
  readonly publicKey: webcrypto.CryptoKey;
}

/** A PKCS#10 request parsed, its self-signature verified and its key P-256, or a
 * CertificateError: what a CA checks before it signs anything (RFC 9148 §5). */
export async function checkCsr(der: Uint8Array, principalOf: (subject: string) => Principal | undefined): Promise<CheckedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(der));
  } catch (error) {
    throw new CertificateError(`not a PKCS#10 request: ${(error as Error).message}`);
  }
  let publicKey: webcrypto.CryptoKey;
  try {
    publicKey = await csr.publicKey.export(ALGORITHM, ['verify']) as unknown as webcrypto.CryptoKey;
  } catch {
    throw new CertificateError('the request\'s key is not a P-256 key');
  }
  if (!await csr.verify()) throw new CertificateError('the request\'s signature does not verify');
  return { subject: csr.subject, principal: principalOf(csr.subject), publicKey };
}

/** What the daemons and the CLI read from a certificate (node:crypto). */
export interface CertificateSummary {
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
}

/** The first certificate of a PEM chain, read with node:crypto. */
export function readCertificate(pem: string | Buffer): CertificateSummary {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (error) {
    throw new CertificateError(`not an X.509 certificate: ${(error as Error).message}`);
  }
  return {
    subject: certificate.subject.split('\n').join(', '),
    serial: normalizeSerial(certificate.serialNumber),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    fingerprint256: certificate.fingerprint256,
  };
}

/** Whether `pem` (the first of a chain) was signed by `issuerPem`'s key and names it as issuer. */
export function isIssuedBy(pem: string, issuerPem: string): boolean {
  const certificate = new X509Certificate(pem);
  const issuer = new X509Certificate(issuerPem);
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

// ---- pure helpers ------------------------------------------------------------------------

function kindExtensions(kind: CertificateKind, altNames: readonly string[]): x509.Extension[] {
  const { KeyUsageFlags: Usage } = x509;
  switch (kind) {
    case 'root':
      return [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(Usage.keyCertSign | Usage.cRLSign, true)];
    case 'intermediate':
      return [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(Usage.keyCertSign | Usage.cRLSign, true)];
    case 'client':
      return [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(Usage.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ];
    case 'server':
      if (altNames.length === 0) throw new CertificateError('a server certificate needs at least one name');
      return [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(Usage.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(altNames.map((name) => ({ type: isIP(name) === 0 ? 'dns' as const : 'ip' as const, value: name }))),
      ];
    default: {
      const never: never = kind;
      throw new CertificateError(`unknown certificate kind ${String(never)}`);
    }
  }
}
