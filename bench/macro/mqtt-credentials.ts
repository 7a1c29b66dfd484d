// The keys both sides of the CoAP-vs-MQTT comparison run on, made once per run in a
// temporary directory: the publisher's Ed25519 key (both sides' manifests are signed and
// checked by the agents), PSKs (`keys generate`'s code: our side's default mode, run
// beside the certificates), and one fleet CA (P-256 root + intermediate, `keys ca init`'s
// code) with a server certificate for 127.0.0.1 and a client certificate per node and
// operator (`keys issue`'s code). Both sides authenticate alike: mutual X.509 P-256, the
// identity in the certificate's CN.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DtlsCredentials } from '../../src/dtls/transport-options.js';
import { CA_FILES, initCertificateAuthority, issueFor } from '../../src/operator/certificate-authority.js';
import { generateKeys } from '../../src/operator/keys.js';

/** The operator of our side (publishes, reads the rollout) and the MQTT gateway's broker
 * client: both clients of their server, with clientAuth certificates. */
export const OPERATOR = 'admin';
export const MQTT_GATEWAY_OPERATOR = 'mqtt-gateway';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

export interface BenchCredentials {
  readonly dir: string;
  readonly publisherKey: string;
  readonly publisherPub: string;
  /** The root: what clients trust. */
  readonly caFile: string;
  /** Root + intermediate: what the servers verify clients against. */
  readonly caBundle: string;
  /** The servers' certificate (our gateway, mosquitto, the HTTPS image server). */
  readonly server: CertificateFiles;
  /** `node-ID`, `operator-NAME` → its files. */
  client(base: string): CertificateFiles;
  /** Every PSK identity's key, for our gateway (--psk-file). */
  readonly gatewayPskFile: string;
  /** `node-ID`, `operator-NAME` → its PSK credentials file. */
  psk(base: string): string;
}

export async function makeCredentials(dir: string, nodeIds: readonly string[]): Promise<BenchCredentials> {
  const caDir = join(dir, 'ca');
  await generateKeys(dir, nodeIds, OPERATOR, true);
  await initCertificateAuthority(caDir, { intermediate: true, days: 2, overwrite: true });
  const issue = { days: 2, outDirectory: dir, overwrite: true };
  await issueFor(caDir, { kind: 'gateway', hosts: ['127.0.0.1', 'localhost'] }, issue);
  for (const name of [OPERATOR, MQTT_GATEWAY_OPERATOR]) await issueFor(caDir, { kind: 'operator', name }, issue);
  for (const id of nodeIds) await issueFor(caDir, { kind: 'node', id }, issue);
  const files = (base: string): CertificateFiles => ({ cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) });
  return {
    dir,
    publisherKey: join(dir, 'publisher.key'),
    publisherPub: join(dir, 'publisher.pub'),
    caFile: join(caDir, CA_FILES.rootCertificate),
    caBundle: join(caDir, CA_FILES.bundle),
    server: files('gateway'),
    client: files,
    gatewayPskFile: join(dir, 'gateway-psk.json'),
    psk: (base) => join(dir, `${base}.json`),
  };
}

/** A DTLS client's certificate credentials (the operator's client on our side). */
export function dtlsCertificateCredentials(credentials: BenchCredentials, base: string): DtlsCredentials {
  const { cert, key } = credentials.client(base);
  return { mode: 'certificate', certificates: { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), ca: readFileSync(credentials.caFile, 'utf8') } };
}
