// Fixtures for the DTLS tests: an in-process link that carries datagrams between a client
// session and a server context (the server side goes through accept() and its cookie
// exchange, as a transport would), and a throwaway P-256 PKI made with the openssl CLI.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DtlsContext } from '../../../src/dtls/context.js';
import type { DtlsSession } from '../../../src/dtls/session.js';

export type Direction = 'toServer' | 'toClient';

export interface Link {
  readonly client: DtlsSession;
  readonly server: DtlsSession | undefined;
  readonly clientApp: Buffer[];
  readonly serverApp: Buffer[];
  /** HelloVerifyRequests the server's listener answered with. */
  readonly verifies: number;
  /** Datagrams delivered so far, per direction (dropped ones included). */
  readonly counts: Record<Direction, number>;
  /** Delivers datagrams in flight until none is left (bounded); `drop` may lose some. */
  flush(drop?: (direction: Direction, datagram: Buffer, index: number) => boolean): void;
  /** What is in flight, without delivering it. */
  readonly inFlight: Record<Direction, Buffer[]>;
}

export function connectLink(clientContext: DtlsContext, serverContext: DtlsContext, peer = '127.0.0.1|40000'): Link {
  const inFlight: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
  const counts: Record<Direction, number> = { toServer: 0, toClient: 0 };
  const clientApp: Buffer[] = [];
  const serverApp: Buffer[] = [];
  let server: DtlsSession | undefined;
  let verifies = 0;
  const client = clientContext.connect({ onSend: (datagram) => inFlight.toServer.push(datagram) });
  const toServer = (datagram: Buffer): void => {
    if (server !== undefined && server.state !== 'closed' && server.state !== 'failed') {
      const result = server.receive(datagram);
      serverApp.push(...result.app);
      if (!result.reconnect) return;
    }
    const accepted = serverContext.accept(datagram, peer, { onSend: (reply) => inFlight.toClient.push(reply) });
    if (accepted.kind === 'verify') {
      verifies++;
      inFlight.toClient.push(accepted.reply);
    } else if (accepted.kind === 'session') {
      server = accepted.session;
    }
  };
  const link: Link = {
    client,
    get server() { return server; },
    clientApp,
    serverApp,
    get verifies() { return verifies; },
    counts,
    inFlight,
    flush(drop) {
      for (let round = 0; round < 100 && (inFlight.toServer.length > 0 || inFlight.toClient.length > 0); round++) {
        for (const direction of ['toServer', 'toClient'] as const) {
          const batch = inFlight[direction].splice(0);
          for (const datagram of batch) {
            const index = counts[direction]++;
            if (drop?.(direction, datagram, index) === true) continue;
            if (direction === 'toServer') toServer(datagram);
            else clientApp.push(...client.receive(datagram).app);
          }
        }
      }
    },
  };
  return link;
}

export interface Pki {
  readonly dir: string;
  readonly ca: string;
  readonly otherCa: string;
  readonly server: { readonly cert: string; readonly key: string };
  readonly client: { readonly cert: string; readonly key: string };
  /** A client certificate with the same subject, signed by another CA. */
  readonly rogue: { readonly cert: string; readonly key: string };
  readonly paths: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'rogueCert' | 'rogueKey', string>;
  remove(): void;
}

/** A CA, a server ("CN=gateway") and a client ("O=coap-fleet, CN=node:7") certificate on
 * P-256, valid 30 days from now, and a rogue client from another CA. */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'coap-fleet-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  };
  const key = (name: string): void => openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  const selfSigned = (name: string, subject: string): void => {
    key(name);
    openssl('req', '-x509', '-new', '-key', `${name}.key`, '-sha256', '-days', '30', '-subj', subject, '-out', `${name}.pem`);
  };
  const issued = (name: string, subject: string, ca: string): void => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-days', '30', '-sha256', '-out', `${name}.pem`);
  };
  selfSigned('ca', '/CN=coap-fleet test CA');
  selfSigned('other-ca', '/CN=another CA');
  issued('server', '/CN=gateway', 'ca');
  issued('client', '/O=coap-fleet/CN=node:7', 'ca');
  issued('rogue', '/O=coap-fleet/CN=node:7', 'other-ca');
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  return {
    dir,
    ca: read('ca.pem'),
    otherCa: read('other-ca.pem'),
    server: { cert: read('server.pem'), key: read('server.key') },
    client: { cert: read('client.pem'), key: read('client.key') },
    rogue: { cert: read('rogue.pem'), key: read('rogue.key') },
    paths: {
      ca: join(dir, 'ca.pem'),
      serverCert: join(dir, 'server.pem'),
      serverKey: join(dir, 'server.key'),
      clientCert: join(dir, 'client.pem'),
      clientKey: join(dir, 'client.key'),
      rogueCert: join(dir, 'rogue.pem'),
      rogueKey: join(dir, 'rogue.key'),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
