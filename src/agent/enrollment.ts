// The agent's own certificate (RFC 9148, EST over CoAPS; DESIGN §6): with a bootstrap PSK
// and no certificate yet, it makes its P-256 key (kept 0600), sends a PKCS#10 request for
// CN=node:ID to the gateway's /.well-known/est/sen on the enrollment port and keeps the
// certificate; later it re-enrolls (/sren) over its running session with a new key, once
// the configured share of the validity has passed. Files are replaced by rename, key first.

import { rename, writeFile } from 'node:fs/promises';
import { createDtlsEndpoint } from '../dtls/index.js';
import { createCsr, generateKeyPair, privateKeyPem, readCertificate, subjectFor } from '../fleet/certificates.js';
import { GatewayRoute } from '../fleet/paths.js';
import { codeClass, describeCode, Method, ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { Logger } from '../protocol/interfaces.js';
import { protocolLogger, type DaemonLogger } from '../fleet/logger.js';
import { retryDelay } from './backoff.js';
import type { DtlsCredentials, EnrollmentSettings } from './config.js';
import { EnrollmentRefusedError } from './errors.js';

const ENROLL_TIMEOUT_MS = 60_000;
/** Attempts at first enrollment while the gateway does not answer, on the retry ladder
 * (about 10 minutes); then the agent stops with the reason, and its service manager retries. */
const ENROLL_ATTEMPTS = 24;

/** DTLS failures that mean the bootstrap credential is not (or no longer) accepted. */
const REFUSED_HANDSHAKES = new Set(['DTLS_ERR_UNKNOWN_PSK_IDENTITY', 'DTLS_ERR_BAD_PSK']);

/** A new key and a CSR for this node. */
async function newRequest(nodeId: string): Promise<{ keyPem: string; csr: Buffer }> {
  const keys = await generateKeyPair();
  return { keyPem: await privateKeyPem(keys), csr: await createCsr(subjectFor({ role: 'node', name: nodeId }), keys) };
}

/** Writes the key (0600) and the certificate, each through a temporary file and a rename. */
async function keep(settings: EnrollmentSettings, keyPem: string, certificatePem: string): Promise<void> {
  for (const [path, content, mode] of [[settings.keyFile, keyPem, 0o600], [settings.certFile, certificatePem, 0o644]] as const) {
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, content, { mode });
    await rename(temporary, path);
  }
}

/** POSTs the CSR to an EST path; the certificate in PEM, or an error: EnrollmentRefusedError
 * for a 4.xx (the request will not do better by repetition). */
async function postCsr(endpoint: Endpoint, uri: string, csr: Buffer): Promise<string> {
  const response = await endpoint.request({
    uri, method: Method.POST, payload: csr, contentFormat: ContentFormat.Pkcs10, accept: ContentFormat.PkixCert, timeoutMs: ENROLL_TIMEOUT_MS,
  });
  const diagnostic = response.payload.toString('utf8').slice(0, 200);
  if (codeClass(response.code) === 4) throw new EnrollmentRefusedError(`${uri}: ${describeCode(response.code)} ${diagnostic}`);
  if (response.code !== ResponseCode.Changed || response.contentFormat !== ContentFormat.PkixCert) {
    throw new Error(`${uri}: ${describeCode(response.code)} ${diagnostic}`);
  }
  return derToPem(response.payload);
}

/** Enrolls with the bootstrap credential (RFC 9148 §4.1 /sen); the certificate credentials
 * to run on. A refused credential is an EnrollmentRefusedError; anything else (the gateway
 * not answering) may be retried. */
export async function enroll(settings: EnrollmentSettings, nodeId: string, options: { host: string; logger: Logger }): Promise<DtlsCredentials> {
  const { bootstrap, estUri } = settings;
  if (bootstrap === undefined || estUri === undefined) throw new EnrollmentRefusedError('enrollment needs bootstrap_file and enroll_gateway');
  const request = await newRequest(nodeId);
  const endpoint = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: bootstrap, host: options.host, port: 0, logger: options.logger });
  let certificate: string;
  try {
    certificate = await postCsr(endpoint, `${estUri.replace(/\/+$/, '')}${GatewayRoute.estEnroll}`, request.csr);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && REFUSED_HANDSHAKES.has(code)) {
      throw new EnrollmentRefusedError(`the gateway refused the bootstrap credential ${bootstrap.identity} (used, expired or unknown)`, { cause: error });
    }
    throw error;
  } finally {
    await endpoint.close();
  }
  await keep(settings, request.keyPem, certificate);
  return { mode: 'certificate', cert: certificate, key: request.keyPem, ca: settings.ca, serverName: settings.serverName };
}

/** enroll(), again while the gateway does not answer; a refusal ends it at once. It runs
 * before the agent exists (its clock and stop signal with it): real timers, bounded. */
export async function enrollPatiently(settings: EnrollmentSettings, nodeId: string, host: string, log: DaemonLogger): Promise<DtlsCredentials> {
  for (let failures = 0; ; failures++) {
    try {
      const credentials = await enroll(settings, nodeId, { host, logger: protocolLogger(log.child({ component: 'enrollment' })) });
      log.info({ cert_file: settings.certFile, key_file: settings.keyFile }, 'enrolled: certificate and key kept');
      return credentials;
    } catch (error) {
      if (error instanceof EnrollmentRefusedError || failures + 1 >= ENROLL_ATTEMPTS) throw error;
      const delayMs = retryDelay(failures);
      log.warn({ err: error, retry_in_ms: delayMs }, 'enrollment failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** Re-enrolls over the running session (RFC 9148 §4.1 /sren) and keeps the new key and
 * certificate; what to run on from now. */
export async function reenroll(endpoint: Endpoint, gateway: string, settings: EnrollmentSettings, nodeId: string): Promise<DtlsCredentials> {
  const request = await newRequest(nodeId);
  const certificate = await postCsr(endpoint, `${gateway}${GatewayRoute.estReenroll}`, request.csr);
  await keep(settings, request.keyPem, certificate);
  return { mode: 'certificate', cert: certificate, key: request.keyPem, ca: settings.ca, serverName: settings.serverName };
}

// ---- pure helpers ------------------------------------------------------------------------

/** When to re-enroll: `percent` of the way from notBefore to notAfter, from `now` (ms). */
export function reenrollDelayMs(certificatePem: string, percent: number, now: number): number {
  const { notBefore, notAfter } = readCertificate(certificatePem);
  const at = notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * (percent / 100);
  return Math.max(0, at - now);
}

export function derToPem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
