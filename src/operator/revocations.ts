// Revoking certificates through the gateway (DESIGN §6): POST /certificates/revocations with
// a serial (given, or read from the certificate file) or a subject; the list with GET. The
// gateway refuses the certificate at every later handshake and ends its live sessions.

import { readFile } from 'node:fs/promises';
import { readCertificate } from '../fleet/certificates.js';
import { GatewayRoute } from '../fleet/paths.js';
import type { RevocationRecord, RevocationRequest } from '../fleet/revocation.js';
import { Method } from '../protocol/codes.js';
import { CredentialsError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';

export interface RevocationResult {
  readonly revocation: RevocationRecord;
  readonly sessions_ended: number;
}

export function revokeCertificate(gateway: GatewayClient, request: RevocationRequest): Promise<RevocationResult> {
  return gateway.json<RevocationResult>(Method.POST, GatewayRoute.revocations, request);
}

export async function listRevocations(gateway: GatewayClient): Promise<RevocationRecord[]> {
  return (await gateway.json<{ revocations: RevocationRecord[] }>(Method.GET, GatewayRoute.revocations)).revocations;
}

/** The serial of the (first) certificate in a PEM file. */
export async function serialOfCertificateFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CredentialsError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return readCertificate(text).serial;
  } catch (error) {
    throw new CredentialsError(`${path}: ${(error as Error).message}`, { cause: error });
  }
}
