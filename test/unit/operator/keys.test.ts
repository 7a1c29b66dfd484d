// Generating a fleet's keys: the files keys generate and the demo write, their modes, and
// the refusals (existing files, bad ids) before anything is written.

import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCredentialsFile } from '../../../src/fleet/credentials-file.js';
import { hashDashboardToken, parseDashboardTokens } from '../../../src/fleet/dashboard-tokens.js';
import { InvalidIdError, KeysExistError } from '../../../src/operator/errors.js';
import { generateKeys } from '../../../src/operator/keys.js';

let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-operator-keys-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

test('secrets are written 0600 in a 0700 directory; the public keys 0644; two distinct Ed25519 pairs; credentials match the gateway\'s table', async () => {
  const out = join(dir, 'fresh');
  const generated = await generateKeys(out, ['n1', 'n2'], 'alice', false);
  const names = [
    'publisher.key', 'publisher.pub', 'operator-command.key', 'operator-command.pub', 'gateway-psk.json', 'nodes-psk.json', 'operator-alice.json', 'node-n1.json', 'node-n2.json',
    'dashboard-token-alice.txt', 'dashboard-tokens.json',
  ];
  assert.equal(generated, { directory: out, files: names.map((name) => join(out, name)) });
  assert.equal((await readdir(out)).sort(), [...names].sort());
  assert.is(await mode(out), 0o700);
  for (const name of names) assert.is(await mode(join(out, name)), name.endsWith('.pub') ? 0o644 : 0o600, name);

  const table = JSON.parse(await readFile(join(out, 'gateway-psk.json'), 'utf8')) as Record<string, string>;
  assert.equal(Object.keys(table).sort(), ['node:n1', 'node:n2', 'operator:alice']);
  const nodesTable = JSON.parse(await readFile(join(out, 'nodes-psk.json'), 'utf8')) as Record<string, string>;
  assert.equal(nodesTable, { 'node:n1': table['node:n1'], 'node:n2': table['node:n2'] });
  for (const [file, identity] of [['operator-alice.json', 'operator:alice'], ['node-n1.json', 'node:n1'], ['node-n2.json', 'node:n2']] as const) {
    const credential = await readCredentialsFile(join(out, file));
    assert.is(credential.identity, identity);
    assert.is(credential.key.length, 16);
    assert.is(credential.key.toString('hex'), table[identity]);
  }
  for (const pair of ['publisher', 'operator-command']) {
    const privateKey = createPrivateKey(await readFile(join(out, `${pair}.key`), 'utf8'));
    const publicKey = createPublicKey(await readFile(join(out, `${pair}.pub`), 'utf8'));
    assert.ok(verify(null, Buffer.from('m'), publicKey, sign(null, Buffer.from('m'), privateKey)), `${pair}: one Ed25519 pair`);
  }
  // The dashboard login: the secret for the operator, only its hash for the gateway.
  const token = (await readFile(join(out, 'dashboard-token-alice.txt'), 'utf8')).trim();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  const tokens = parseDashboardTokens(await readFile(join(out, 'dashboard-tokens.json'), 'utf8'));
  assert.equal(tokens, [{ principal: 'operator:alice', sha256: hashDashboardToken(token) }]);
  assert.not.ok((await readFile(join(out, 'dashboard-tokens.json'), 'utf8')).includes(token), 'the gateway keeps no token');
  const publisherPub = await readFile(join(out, 'publisher.pub'), 'utf8');
  assert.is.not(await readFile(join(out, 'operator-command.pub'), 'utf8'), publisherPub, 'the command key is not the publisher key');
});

test('existing files are refused with KeysExistError naming them, and overwritten when asked', async () => {
  const out = join(dir, 'existing');
  await mkdir(out);
  await writeFile(join(out, 'node-n1.json'), 'old');
  const refused = await generateKeys(out, ['n1'], 'admin', false).then(() => undefined, (error: unknown) => error);
  assert.instance(refused, KeysExistError);
  assert.equal((refused as KeysExistError).existing, ['node-n1.json']);
  assert.is((refused as KeysExistError).code, 'OPERATOR_ERR_KEYS_EXIST');
  assert.equal(await readdir(out), ['node-n1.json'], 'nothing written');
  await generateKeys(out, ['n1'], 'admin', true);
  assert.is((await readCredentialsFile(join(out, 'node-n1.json'))).identity, 'node:n1');
});

test('ids that are not path-safe, or repeated, are refused with InvalidIdError before anything is written', async () => {
  const out = join(dir, 'invalid');
  for (const [nodeIds, operator] of [[['../n1'], 'admin'], [['n1'], 'a/b'], [['n1', 'n1'], 'admin'], [[''], 'admin']] as const) {
    const refused = await generateKeys(out, nodeIds, operator, false).then(() => undefined, (error: unknown) => error);
    assert.instance(refused, InvalidIdError, JSON.stringify(nodeIds));
    assert.is((refused as InvalidIdError).code, 'OPERATOR_ERR_INVALID_ID');
  }
  assert.is(await stat(out).then(() => true, () => false), false, 'no directory made');
});

test('20,000 nodes: every node in nodes-psk.json and the gateway\'s table, distinct keys, a file each', async () => {
  const out = join(dir, 'large');
  const ids = Array.from({ length: 20_000 }, (_, i) => `node-${i + 1}`);
  await generateKeys(out, ids, 'admin', false);
  const nodesTable = JSON.parse(await readFile(join(out, 'nodes-psk.json'), 'utf8')) as Record<string, string>;
  const gatewayTable = JSON.parse(await readFile(join(out, 'gateway-psk.json'), 'utf8')) as Record<string, string>;
  assert.equal(Object.keys(nodesTable), ids.map((id) => `node:${id}`));
  assert.is(new Set(Object.values(nodesTable)).size, 20_000);
  assert.is(Object.keys(gatewayTable).length, 20_001);
  assert.is((await readdir(out)).filter((name) => name.startsWith('node-')).length, 20_000);
  const last = await readCredentialsFile(join(out, 'node-node-20000.json'));
  assert.is(last.key.toString('hex'), nodesTable['node:node-20000']);
});

test.run();
