// The DTLS layer alone, in one process: a PSK client and server session on modules of their
// own, joined in memory (no sockets, no CoAP), exchanging a 24-byte request record for a
// 1,036-byte response record (a 1 KiB CoAP response with its header) over and over. The
// CPU of both sides (process.cpuUsage) halved is the DTLS cost per request on one side:
// each side encrypts one and decrypts the other of the two records.

import { DtlsContext } from '../../src/dtls/context.js';
import type { DtlsSession } from '../../src/dtls/session.js';
import { DtlsModule } from '../../src/dtls/wasm-module.js';

const KEY = Buffer.from('coap-fleet-bench');
const REQUEST = Buffer.alloc(24, 1);
const RESPONSE = Buffer.alloc(1036, 2);

async function sessionPair(): Promise<{ client: DtlsSession; server: DtlsSession; toServer: Buffer[]; toClient: Buffer[] }> {
  const serverContext = new DtlsContext(await DtlsModule.load(), { role: 'server', mode: 'psk', pskLookup: () => KEY });
  const clientContext = new DtlsContext(await DtlsModule.load(), { role: 'client', mode: 'psk', psk: { identity: 'node:bench', key: KEY } });
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const client = clientContext.connect({ onSend: (datagram) => toServer.push(datagram) });
  let server: DtlsSession | undefined;
  for (let flight = 0; flight < 10 && client.state === 'handshaking'; flight++) {
    for (const datagram of toServer.splice(0)) {
      if (server !== undefined) {
        server.receive(datagram);
        continue;
      }
      const result = serverContext.accept(datagram, 'bench-peer', { onSend: (reply) => toClient.push(reply) });
      if (result.kind === 'verify') toClient.push(result.reply);
      if (result.kind === 'session') server = result.session;
    }
    for (const datagram of toClient.splice(0)) client.receive(datagram);
  }
  if (client.state !== 'established' || server === undefined) throw new Error('the in-memory handshake did not complete');
  return { client, server, toServer, toClient };
}

/** Median over `rounds` rounds of `count` exchanges: CPU µs per request on one side. */
export async function dtlsLayerCpuUs(count = 5000, rounds = 5): Promise<number> {
  const { client, server, toServer, toClient } = await sessionPair();
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      client.send(REQUEST);
      if (server.receive(toServer.pop()!).app.length !== 1) throw new Error('a request record was lost');
      server.send(RESPONSE);
      if (client.receive(toClient.pop()!).app.length !== 1) throw new Error('a response record was lost');
    }
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / count / 2);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}
