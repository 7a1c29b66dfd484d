// Enrollment of nodes (RFC 9148, EST over CoAPS; DESIGN §6): the gateway as the fleet's
// registration authority and CA for nodes. An operator asks for a bootstrap credential for
// one node id (a PSK, single use, expiring); the node uses it once on the enrollment port
// to have its PKCS#10 request signed (/sen), and later re-enrolls with its current
// certificate on the main port (/sren). The CA key is the one of `enroll_ca_key_file`.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  checkCsr, issueCertificate, keyPairFromPem, readCertificate, type KeyedCertificate,
} from '../fleet/certificates.js';
import { CertificateError } from '../fleet/errors.js';
import { principalFromIdentity } from '../fleet/identity.js';
import { isValidId } from '../fleet/paths.js';
import type { Logger } from '../protocol/interfaces.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import type { GatewayConfig } from './config.js';
import { ConfigError } from './errors.js';
import type { GatewayStore } from './store.js';

/** The PSK identity of a node's bootstrap credential. */
export const BOOTSTRAP_PREFIX = 'bootstrap:';
/** 128-bit bootstrap keys, as the CoAP PSK suite's AES-128 (RFC 7252 §9.1.3.1). */
const BOOTSTRAP_KEY_BYTES = 16;
/** Outstanding bootstrap credentials at most (one per node id): a fleet enrolling at once. */
export const MAX_BOOTSTRAPS = 20_000;
/** Longest a bootstrap credential may live: provisioning is a matter of days. */
export const MAX_BOOTSTRAP_LIFETIME_S = 30 * 86_400;

export interface BootstrapRecord {
  readonly identity: string;
  readonly node_id: string;
  readonly key_hex: string;
  readonly created_at: string;
  readonly created_by: string;
  readonly expires_at: string;
  /** When a certificate was issued with it; it is refused from then on. */
  readonly used_at: string | null;
}

/** What the operator gets back: the node's credentials file content and its expiry. */
export interface BootstrapCredential {
  readonly identity: string;
  readonly key_hex: string;
  readonly expires_at: string;
}

const refuse = (code: number, reason: string): ResponseError => new ResponseError(code, reason, { diagnostic: reason });

export class Enrollment {
  readonly #store: GatewayStore;
  readonly #ca: KeyedCertificate;
  readonly #validityMs: number;
  readonly #now: () => Date;
  readonly #logger: Logger;

  constructor(options: { store: GatewayStore; ca: KeyedCertificate; validityS: number; now: () => Date; logger: Logger }) {
    this.#store = options.store;
    this.#ca = options.ca;
    this.#validityMs = options.validityS * 1000;
    this.#now = options.now;
    this.#logger = options.logger;
  }

  /** The enrollment CA from the config's files, or a ConfigError. */
  static async loadCa(config: GatewayConfig): Promise<KeyedCertificate> {
    if (config.enroll_ca_cert_file === null || config.enroll_ca_key_file === null) throw new ConfigError('est_port needs enroll_ca_cert_file and enroll_ca_key_file');
    try {
      const certificate = await readFile(config.enroll_ca_cert_file, 'utf8');
      readCertificate(certificate);
      return { certificate, keys: await keyPairFromPem(await readFile(config.enroll_ca_key_file, 'utf8')) };
    } catch (error) {
      throw new ConfigError(`enroll_ca_cert_file / enroll_ca_key_file: ${(error as Error).message}`);
    }
  }

  /** The enrollment port's PSK lookup: the key of a bootstrap credential that is neither
   * used nor expired; anything else is an unknown identity (the handshake fails). */
  pskLookup(identity: string): Uint8Array | undefined {
    const record = this.#store.getBootstrap(identity);
    if (record === undefined || record.used_at !== null || Date.parse(record.expires_at) <= this.#now().getTime()) return undefined;
    return Buffer.from(record.key_hex, 'hex');
  }

  /** A new bootstrap credential for `nodeId`, replacing any earlier one; expired and used
   * ones go in the same transaction. */
  async createBootstrap(nodeId: string, lifetimeS: number, by: string): Promise<BootstrapCredential> {
    if (!isValidId(nodeId)) throw refuse(ResponseCode.BadRequest, 'node_id: 1-64 of [A-Za-z0-9._-]');
    if (!(lifetimeS >= 1 && lifetimeS <= MAX_BOOTSTRAP_LIFETIME_S)) throw refuse(ResponseCode.BadRequest, `expires_s: 1..${MAX_BOOTSTRAP_LIFETIME_S}`);
    const now = this.#now();
    const all = this.#store.listBootstraps();
    const stale = all.filter((record) => record.used_at !== null || Date.parse(record.expires_at) <= now.getTime());
    const identity = `${BOOTSTRAP_PREFIX}${nodeId}`;
    const outstanding = all.length - stale.length;
    if (outstanding >= MAX_BOOTSTRAPS && this.#store.getBootstrap(identity) === undefined) {
      throw refuse(ResponseCode.ServiceUnavailable, `${MAX_BOOTSTRAPS} bootstrap credentials outstanding, the bound`);
    }
    const record: BootstrapRecord = {
      identity, node_id: nodeId, key_hex: randomBytes(BOOTSTRAP_KEY_BYTES).toString('hex'),
      created_at: now.toISOString(), created_by: by, expires_at: new Date(now.getTime() + lifetimeS * 1000).toISOString(), used_at: null,
    };
    await this.#store.atomically((writer) => {
      for (const old of stale) writer.removeBootstrap(old.identity);
      writer.putBootstrap(record);
      writer.audit({ at: record.created_at, who: by, action: 'enroll.bootstrap', target: identity, detail: `expires ${record.expires_at}` });
    });
    return { identity, key_hex: record.key_hex, expires_at: record.expires_at };
  }

  /** /sen with a bootstrap credential: the request must name the credential's node, which
   * must still be valid; the credential is spent with the certificate (RFC 9148 §4.1). */
  async enroll(identity: string | undefined, csr: Uint8Array): Promise<Buffer> {
    const record = identity === undefined ? undefined : this.#store.getBootstrap(identity);
    // The handshake already refused a used or expired one; this closes the window between.
    if (record === undefined || this.pskLookup(record.identity) === undefined) throw refuse(ResponseCode.Forbidden, 'no valid bootstrap credential');
    const issued = await this.#issue(csr, record.node_id);
    const at = this.#now().toISOString();
    await this.#store.atomically((writer) => {
      writer.putBootstrap({ ...record, used_at: at });
      writer.audit({ at, who: record.identity, action: 'enroll.sen', target: `node:${record.node_id}`, detail: `serial ${issued.serial}` });
    });
    this.#logger.info({ node: record.node_id, serial: issued.serial, not_after: issued.notAfter }, 'node enrolled');
    return issued.der;
  }

  /** /sren with the node's current certificate: a new one for the same node. */
  async reenroll(nodeId: string, csr: Uint8Array): Promise<Buffer> {
    const issued = await this.#issue(csr, nodeId);
    const at = this.#now().toISOString();
    await this.#store.atomically((writer) => {
      writer.audit({ at, who: `node:${nodeId}`, action: 'enroll.sren', target: `node:${nodeId}`, detail: `serial ${issued.serial}` });
    });
    this.#logger.info({ node: nodeId, serial: issued.serial, not_after: issued.notAfter }, 'node re-enrolled');
    return issued.der;
  }

  async #issue(csrDer: Uint8Array, nodeId: string): Promise<{ der: Buffer; serial: string; notAfter: string }> {
    let checked: Awaited<ReturnType<typeof checkCsr>>;
    try {
      checked = await checkCsr(csrDer, principalFromIdentity);
    } catch (error) {
      if (error instanceof CertificateError) throw refuse(ResponseCode.BadRequest, error.message);
      throw error;
    }
    const { principal } = checked;
    if (principal?.role !== 'node' || principal.name !== nodeId) {
      throw refuse(ResponseCode.Forbidden, `the request's subject ${JSON.stringify(checked.subject.slice(0, 80))} is not node:${nodeId}`);
    }
    const now = this.#now().getTime();
    const pem = await issueCertificate({
      kind: 'client', subject: checked.subject, publicKey: checked.publicKey, issuer: this.#ca,
      notBefore: new Date(now - 60_000), notAfter: new Date(now + this.#validityMs),
    });
    const summary = readCertificate(pem);
    return { der: pemToDer(pem), serial: summary.serial, notAfter: summary.notAfter.toISOString() };
  }
}

// ---- pure helpers ------------------------------------------------------------------------

/** The DER bytes of the first PEM block (application/pkix-cert carries DER, RFC 9148 §5). */
export function pemToDer(pem: string): Buffer {
  const body = /-----BEGIN [A-Z ]+-----([\s\S]*?)-----END [A-Z ]+-----/.exec(pem)?.[1];
  if (body === undefined) throw new CertificateError('no PEM block');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

