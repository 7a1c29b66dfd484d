// The fleet CA on the operator's machine (DESIGN §6): `keys ca init` makes a P-256 root
// (and optionally an intermediate that does the issuing, so the root key can go offline),
// `keys issue` makes certificates for nodes, operators and the gateway. Keys are written
// 0600 in a 0700 directory and never overwritten unless asked.
//
// A CA directory: ca.crt (the trust anchor: the agents' and operators' ca_file), ca.key,
// with an intermediate intermediate.crt / intermediate.key, and ca-bundle.pem (the root and
// the intermediate: the gateway's ca_file, so that peers that send their certificate alone,
// libcoap's clients or enrolled nodes, verify too). Issued files: <name>.crt (the
// certificate followed by the intermediate, the chain a peer is sent) and <name>.key.

import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  generateKeyPair, issueCertificate, keyPairFromPem, privateKeyPem, readCertificate, subjectFor, validityFor,
  SUBJECT_ORGANIZATION, type CertificateSummary, type KeyedCertificate,
} from '../fleet/certificates.js';
import { isValidId } from '../fleet/paths.js';
import { CredentialsError, InvalidIdError, KeysExistError } from './errors.js';

export const CA_FILES = {
  rootCertificate: 'ca.crt',
  rootKey: 'ca.key',
  intermediateCertificate: 'intermediate.crt',
  intermediateKey: 'intermediate.key',
  bundle: 'ca-bundle.pem',
} as const;

export interface CaInitOptions {
  readonly intermediate: boolean;
  /** Validity of the root (the intermediate gets the same). */
  readonly days: number;
  /** The CA's name in its subject (default "coap-fleet CA"). */
  readonly name?: string;
  readonly overwrite: boolean;
}

/** Who a certificate is for: a node id, an operator name, or the gateway's host name(s). */
export type IssueTarget =
  | { readonly kind: 'node'; readonly id: string }
  | { readonly kind: 'operator'; readonly name: string }
  | { readonly kind: 'gateway'; readonly hosts: readonly string[] };

export interface IssueOptions {
  readonly days: number;
  /** Where the .crt and .key go (created 0700 if missing). */
  readonly outDirectory: string;
  readonly overwrite: boolean;
  /** Validity given outright instead of `days` (tests make expired certificates with it). */
  readonly validity?: { readonly notBefore: Date; readonly notAfter: Date };
}

export interface IssuedCertificate {
  readonly certificateFile: string;
  readonly keyFile: string;
  readonly summary: CertificateSummary;
}

/** Creates the CA in `directory`: a self-signed root, and an intermediate it signs. */
export async function initCertificateAuthority(directory: string, options: CaInitOptions): Promise<string[]> {
  const names = options.intermediate ? Object.values(CA_FILES) : [CA_FILES.rootCertificate, CA_FILES.rootKey, CA_FILES.bundle];
  refuseExisting(directory, names, options.overwrite);
  const name = options.name ?? `${SUBJECT_ORGANIZATION} CA`;
  const validity = validityFor(options.days);
  const rootKeys = await generateKeyPair();
  const root = await issueCertificate({ kind: 'root', subject: `CN=${name}, O=${SUBJECT_ORGANIZATION}`, publicKey: rootKeys.publicKey, selfKeys: rootKeys, ...validity });
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await writeFile(join(directory, CA_FILES.rootKey), await privateKeyPem(rootKeys), { mode: 0o600 });
  await writeFile(join(directory, CA_FILES.rootCertificate), root, { mode: 0o644 });
  if (options.intermediate) {
    const keys = await generateKeyPair();
    const intermediate = await issueCertificate({
      kind: 'intermediate', subject: `CN=${name} intermediate, O=${SUBJECT_ORGANIZATION}`, publicKey: keys.publicKey,
      issuer: { certificate: root, keys: rootKeys }, ...validity,
    });
    await writeFile(join(directory, CA_FILES.intermediateKey), await privateKeyPem(keys), { mode: 0o600 });
    await writeFile(join(directory, CA_FILES.intermediateCertificate), intermediate, { mode: 0o644 });
  }
  const bundle = options.intermediate ? root + await readFile(join(directory, CA_FILES.intermediateCertificate), 'utf8') : root;
  await writeFile(join(directory, CA_FILES.bundle), bundle, { mode: 0o644 });
  return names.map((file) => join(directory, file));
}

/** The CA that issues: the intermediate when there is one, else the root; and the chain
 * above the issued certificate that a peer needs (the intermediate, never the root). */
export async function loadIssuer(directory: string): Promise<{ readonly issuer: KeyedCertificate; readonly chain: string }> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(join(directory, file), 'utf8');
    } catch (error) {
      throw new CredentialsError(`the CA in ${directory}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const intermediate = existsSync(join(directory, CA_FILES.intermediateCertificate));
  const certificate = await read(intermediate ? CA_FILES.intermediateCertificate : CA_FILES.rootCertificate);
  const keys = await keyPairFromPem(await read(intermediate ? CA_FILES.intermediateKey : CA_FILES.rootKey));
  return { issuer: { certificate, keys }, chain: intermediate ? certificate : '' };
}

/** Issues a certificate and a new key for `target` with the CA in `caDirectory`. */
export async function issueFor(caDirectory: string, target: IssueTarget, options: IssueOptions): Promise<IssuedCertificate> {
  const { base, subject, kind, altNames } = describeTarget(target);
  const certificateFile = join(options.outDirectory, `${base}.crt`);
  const keyFile = join(options.outDirectory, `${base}.key`);
  refuseExisting(options.outDirectory, [`${base}.crt`, `${base}.key`], options.overwrite);
  const { issuer, chain } = await loadIssuer(caDirectory);
  const keys = await generateKeyPair();
  const certificate = await issueCertificate({
    kind, subject, publicKey: keys.publicKey, issuer, altNames, ...(options.validity ?? validityFor(options.days)),
  });
  await mkdir(options.outDirectory, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, await privateKeyPem(keys), { mode: 0o600 });
  await writeFile(certificateFile, certificate + chain, { mode: 0o644 });
  return { certificateFile, keyFile, summary: readCertificate(certificate) };
}

// ---- pure helpers ------------------------------------------------------------------------

function refuseExisting(directory: string, names: readonly string[], overwrite: boolean): void {
  if (overwrite) return;
  const existing = names.filter((name) => existsSync(join(directory, name)));
  if (existing.length > 0) throw new KeysExistError(directory, existing);
}

function checkId(id: string): string {
  if (!isValidId(id)) throw new InvalidIdError(`${JSON.stringify(id)} is not a valid id (1-64 of [A-Za-z0-9._-])`);
  return id;
}

/** File base name, subject, kind and SAN of a target (DESIGN §6: the CN is the principal;
 * the gateway's CN is its first name, all its names in the SAN, RFC 6125). */
function describeTarget(target: IssueTarget): { base: string; subject: string; kind: 'client' | 'server'; altNames: readonly string[] } {
  switch (target.kind) {
    case 'node':
      return { base: `node-${checkId(target.id)}`, subject: subjectFor({ role: 'node', name: target.id }), kind: 'client', altNames: [] };
    case 'operator':
      return { base: `operator-${checkId(target.name)}`, subject: subjectFor({ role: 'operator', name: target.name }), kind: 'client', altNames: [] };
    case 'gateway': {
      const hosts = target.hosts.filter((host) => host.length > 0);
      const bad = hosts.find((host) => !/^[A-Za-z0-9.:-]{1,253}$/.test(host));
      if (hosts.length === 0 || bad !== undefined) throw new InvalidIdError(`${JSON.stringify(bad ?? '')} is not a host name or address`);
      return { base: 'gateway', subject: `CN=${hosts[0]}, O=${SUBJECT_ORGANIZATION}`, kind: 'server', altNames: hosts };
    }
    default: {
      const never: never = target;
      throw new InvalidIdError(`unknown target ${JSON.stringify(never)}`);
    }
  }
}
