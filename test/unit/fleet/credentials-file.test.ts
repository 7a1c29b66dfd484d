// The one credentials file format (src/fleet/credentials-file.ts): what keys generate
// writes, the CLI and the agent read back; every refusal a typed FLEET_ERR_CREDENTIALS.

import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCredentialsFile, readCredentialsFile, writeCredentialsFile } from '../../../src/fleet/credentials-file.js';
import { CredentialsFileError } from '../../../src/fleet/errors.js';

let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-credentials-file-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a written credentials file reads back the same identity and key, owner-only (0600)', async () => {
  const path = join(dir, 'node-n1.json');
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  await writeCredentialsFile(path, { identity: 'node:n1', key });
  assert.equal(await readCredentialsFile(path), { identity: 'node:n1', key });
  assert.is((await stat(path)).mode & 0o777, 0o600);
});

test('the key in hex alone parses without an identity (the agent names it in its config)', () => {
  assert.equal(parseCredentialsFile(' 00112233\n'), { identity: undefined, key: Buffer.from('00112233', 'hex') });
  assert.equal(parseCredentialsFile('{"key_hex": "0011"}'), { identity: undefined, key: Buffer.from('0011', 'hex') });
});

/** The message of the CredentialsFileError that parsing `content` throws. */
const refusal = (content: string): string => {
  let thrown: unknown;
  try {
    parseCredentialsFile(content);
  } catch (error) {
    thrown = error;
  }
  assert.instance(thrown, CredentialsFileError, `accepted ${JSON.stringify(content)}`);
  assert.is((thrown as CredentialsFileError).code, 'FLEET_ERR_CREDENTIALS');
  return (thrown as Error).message;
};

test('parse refuses what is not an identity and a key of 1..64 bytes in hex, saying what is wrong', () => {
  assert.match(refusal('{"identity": "node:n1"'), /^not JSON/);
  assert.match(refusal('null'), /must be 1\.\.64 bytes in hex/);
  assert.match(refusal('{"identity": "node:n1"}'), 'no "key_hex" string');
  assert.match(refusal('{"identity": "node:n1", "key_hex": 17}'), 'no "key_hex" string');
  assert.match(refusal('{"identity": 7, "key_hex": "0011"}'), '"identity" must be a non-empty string');
  assert.match(refusal('{"identity": "", "key_hex": "0011"}'), '"identity" must be a non-empty string');
  for (const hex of ['xyz', '001', '', 'ab'.repeat(65)]) {
    assert.match(refusal(JSON.stringify({ identity: 'node:n1', key_hex: hex })), '1..64 bytes in hex', hex);
  }
});

test('read names the file: missing, unparsable, or without the identity a client must announce', async () => {
  const reject = async (path: string): Promise<string> => {
    const thrown = await readCredentialsFile(path).then(() => undefined, (error: unknown) => error);
    assert.instance(thrown, CredentialsFileError, `read ${path}`);
    return (thrown as Error).message;
  };
  const missing = join(dir, 'absent.json');
  assert.is(await reject(missing), `cannot read ${missing}: ENOENT`);
  const garbage = join(dir, 'garbage.json');
  await writeFile(garbage, '{"key_hex": "zz"}');
  assert.is(await reject(garbage), `${garbage}: the key must be 1..64 bytes in hex`);
  const anonymous = join(dir, 'anonymous.json');
  await writeFile(anonymous, '00112233');
  assert.match(await reject(anonymous), `${anonymous} names no identity`);
});

test.run();
