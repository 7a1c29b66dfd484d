// Failed DTLS handshakes against a real gateway process (DESIGN §6): a wrong PSK gives one
// warn line and one audit entry; a flood of them from the same address gives no more
// (the first per address in a window is recorded, the rest counted).

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint, type DtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import { GatewayStore } from '../../src/server/store.js';
import { withFleet, type LogEntry } from '../helpers/fleet.js';

const FLOOD = 50;

const failedHandshake = (entry: LogEntry): boolean => entry.msg === 'dtls handshake failed';

async function wrongKeyClient(): Promise<DtlsEndpoint> {
  return createDtlsEndpoint({
    role: 'client', mode: 'psk', psk: { identity: 'node:node-1', key: randomBytes(16) }, host: '127.0.0.1', port: 0,
    handshakeTimeout: { initialMs: 200, maxMs: 800 },
  });
}

/** The handshake's typed error code, once the gateway has refused it. */
async function refusal(client: DtlsEndpoint, uri: string): Promise<string> {
  try {
    await client.request({ uri, timeoutMs: 10_000 });
  } catch (error) {
    return String((error as { code?: unknown }).code);
  } finally {
    await client.close();
  }
  return 'answered';
}

test('a wrong PSK is logged at warn and audited once; a flood of 50 more from the same address adds no warn line', async () => {
  await withFleet({ name: 'handshake-failures', nodeIds: ['node-1'] }, async (fleet) => {
    const gateway = await fleet.startGateway();
    const uri = `${fleet.gatewayUri}/nodes`;
    assert.is(await refusal(await wrongKeyClient(), uri), 'DTLS_ERR_BAD_PSK');
    const warned = (): LogEntry[] => gateway.entries().filter((entry) => failedHandshake(entry) && entry.level === 'warn');
    await fleet.until('the warn line', () => (warned().length === 1 ? true : undefined), 10_000);
    assert.is(warned()[0]!.code, 'DTLS_ERR_BAD_PSK');

    // Sequential: each refusal means the gateway has already decided on that handshake.
    const codes = new Set<string>();
    for (let i = 0; i < FLOOD; i++) codes.add(await refusal(await wrongKeyClient(), uri));
    assert.equal([...codes], ['DTLS_ERR_BAD_PSK']);
    // One per address per minute: a second only if the flood outlasted the window.
    assert.ok(warned().length <= 2, `${warned().length} warn lines`);

    await gateway.stop();
    const store = await GatewayStore.open(join(fleet.gatewayDataDir, 'state'), { auditMaxEntries: 1000 });
    try {
      const audited = store.recentAudit(1000).filter((entry) => entry.action === 'dtls.handshake_failed');
      assert.is(audited.length, warned().length, 'one audit entry per warn line');
      assert.match(audited[audited.length - 1]!.detail ?? '', /DTLS_ERR_BAD_PSK/);
      assert.match(audited[audited.length - 1]!.who, /^anonymous@127\.0\.0\.1:\d+$/);
    } finally {
      await store.close();
    }
    assert.equal(fleet.unexpectedLines([(entry) => failedHandshake(entry) && entry.level === 'warn']), []);
  });
});

test.run();
