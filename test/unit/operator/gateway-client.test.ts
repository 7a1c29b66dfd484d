// The operator's gateway client refuses credentials that do not fit the gateway's URI, or
// a credentials file it cannot use, with OPERATOR_ERR_CREDENTIALS before it sends anything.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CredentialsError } from '../../../src/operator/errors.js';
import { openGateway, type GatewayOptions } from '../../../src/operator/gateway-client.js';

let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-operator-gateway-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The message of the CredentialsError that opening with `options` throws. */
async function refusal(options: GatewayOptions): Promise<string> {
  const thrown = await openGateway(options).then((gateway) => gateway.close(), (error: unknown) => error);
  assert.instance(thrown, CredentialsError, `opened ${JSON.stringify(options)}`);
  assert.is((thrown as CredentialsError).code, 'OPERATOR_ERR_CREDENTIALS');
  return (thrown as Error).message;
}

test('credentials that do not fit the URI, or a file without identity and key, are refused', async () => {
  const good = join(dir, 'operator-admin.json');
  await writeFile(good, JSON.stringify({ identity: 'operator:admin', key_hex: '00112233445566778899aabbccddeeff' }));
  const anonymous = join(dir, 'anonymous.json');
  await writeFile(anonymous, '00112233');
  const missing = join(dir, 'absent.json');
  assert.match(await refusal({ gateway: 'coaps://127.0.0.1:9' }), 'coaps:// needs DTLS credentials');
  assert.match(await refusal({ gateway: 'coap://127.0.0.1:9', credentials: good }), 'need a coaps:// URI');
  assert.is(await refusal({ gateway: 'coaps://127.0.0.1:9', credentials: missing }), `cannot read ${missing}: ENOENT`);
  assert.match(await refusal({ gateway: 'coaps://127.0.0.1:9', credentials: anonymous }), 'names no identity');
  assert.match(await refusal({
    gateway: 'coaps://127.0.0.1:9', credentials: good, dtls: { mode: 'psk', psk: { identity: 'operator:x', key: Buffer.alloc(16) } },
  }), 'not both');
});

test.run();
