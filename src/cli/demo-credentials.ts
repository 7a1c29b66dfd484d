// The demo's DTLS credentials, one of two ways: PSKs from `keys generate` (the default), or
// with --certs a fleet CA with an intermediate (`keys ca init`), certificates for the
// gateway and the operator (`keys issue`), and nodes that enroll (RFC 9148) with a bootstrap
// credential each (`keys bootstrap`), the gateway signing with the intermediate. What the
// gateway, the agents and the operator's side are started with, and how a person reaches
// the kept fleet.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initCertificateAuthority, issueFor } from '../operator/certificate-authority.js';
import { createBootstrapCredential } from '../operator/enrollment.js';
import type { GatewayClient, GatewayOptions } from '../operator/gateway-client.js';

const OPERATOR = 'admin';
const DEMO_CERTIFICATE_DAYS = 30;
/** How long a demo node's bootstrap credential is valid. */
const BOOTSTRAP_S = 3600;

export interface DemoCredentials {
  readonly description: string;
  /** The gateway's credential flags. */
  readonly gatewayArgs: readonly string[];
  /** An agent's credential keys (src/agent/config.ts), once the gateway runs: with
   * certificates, a bootstrap credential asked of it and its enrollment port. */
  agentConfig(nodeId: string, gateway: GatewayClient, estPort: number | null): Promise<Record<string, string>>;
  /** The operator's side of openGateway / watchRollout. */
  readonly operator: Pick<GatewayOptions, 'credentials' | 'dtls'>;
  /** The CLI flags that reach the gateway as the operator. */
  readonly operatorFlags: string;
}

/** Certificates for the demo (the PSK files of keys generate are written anyway: the
 * publisher and command keys live beside them). */
export async function demoCredentials(keys: string, nodeIds: readonly string[], certificates: boolean): Promise<DemoCredentials> {
  if (!certificates) {
    const credentials = join(keys, `operator-${OPERATOR}.json`);
    return {
      description: `DTLS PSKs for operator:${OPERATOR} and ${nodeIds.length} nodes`,
      gatewayArgs: ['--psk-file', join(keys, 'gateway-psk.json')],
      agentConfig: async (id) => ({ psk_identity: `node:${id}`, psk_key_file: join(keys, `node-${id}.json`) }),
      operator: { credentials },
      operatorFlags: `--credentials ${credentials}`,
    };
  }
  const ca = join(keys, 'ca');
  await initCertificateAuthority(ca, { intermediate: true, days: DEMO_CERTIFICATE_DAYS, overwrite: true });
  const issue = { days: DEMO_CERTIFICATE_DAYS, outDirectory: keys, overwrite: true };
  const gateway = await issueFor(ca, { kind: 'gateway', hosts: ['localhost', '127.0.0.1'] }, issue);
  const operator = await issueFor(ca, { kind: 'operator', name: OPERATOR }, issue);
  const caFile = join(ca, 'ca.crt');
  // Enrolled certificates come without the intermediate (/sen answers one certificate):
  // the gateway trusts it beside the root (keys ca init's bundle).
  const trust = join(ca, 'ca-bundle.pem');
  return {
    description: `a fleet CA (root and intermediate), certificates for the gateway and operator:${OPERATOR}; ${nodeIds.length} nodes enroll`,
    gatewayArgs: [
      '--cert-file', gateway.certificateFile, '--key-file', gateway.keyFile, '--ca-file', trust, '--est-port', '0',
      '--enroll-ca-cert-file', join(ca, 'intermediate.crt'), '--enroll-ca-key-file', join(ca, 'intermediate.key'),
    ],
    agentConfig: async (id, client, estPort) => {
      const bootstrap = join(keys, `bootstrap-${id}.json`);
      await createBootstrapCredential(client, id, BOOTSTRAP_S, bootstrap);
      return {
        bootstrap_file: bootstrap, enroll_gateway: `coaps://127.0.0.1:${estPort ?? 0}`,
        cert_file: join(keys, `node-${id}.crt`), key_file: join(keys, `node-${id}.key`), ca_file: caFile,
      };
    },
    operator: {
      dtls: {
        mode: 'certificate',
        certificates: { cert: await readFile(operator.certificateFile, 'utf8'), key: await readFile(operator.keyFile, 'utf8'), ca: await readFile(caFile, 'utf8') },
      },
    },
    operatorFlags: `--cert ${operator.certificateFile} --key ${operator.keyFile} --ca ${caFile}`,
  };
}
