// The operator signing a command for one node: from the key files keys generate writes, an
// envelope the node's verifier accepts once; bad ids, actions, arguments and lifetimes are
// refused with typed errors before anything is signed, and so are keys that cannot sign.

import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_COMMAND_TTL_SECONDS, verifyCommand } from '../../../src/fleet/command-envelope.js';
import { MemoryNonceLedger } from '../../../src/fleet/nonce-ledger.js';
import { CommandInputError, InvalidIdError, OperatorError, SigningKeyError } from '../../../src/operator/errors.js';
import { generateKeys } from '../../../src/operator/keys.js';
import { DEFAULT_COMMAND_TTL_SECONDS, signCommandFor, type CommandRequest } from '../../../src/operator/sign-command.js';

let dir: string;
let keyPath: string;
let publicKeyPath: string;
const NOW = Date.parse('2026-12-06T19:00:00.700Z');

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-sign-command-'));
  await generateKeys(join(dir, 'keys'), ['node-1'], 'admin', false);
  keyPath = join(dir, 'keys', 'operator-command.key');
  publicKeyPath = join(dir, 'keys', 'operator-command.pub');
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const request = (fields: Partial<CommandRequest> = {}): CommandRequest => ({
  nodeId: 'node-1', action: 'service.stop', args: { unit: 'nginx.service' }, signingKeyPath: keyPath, now: NOW, ...fields,
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const thrown = await promise.then(() => undefined, (error: unknown) => error);
  assert.instance(thrown, Error, 'resolved, expected a rejection');
  return thrown as Error;
}

test('keys generate\'s operator-command.key signs an envelope the node verifies with operator-command.pub, once', async () => {
  const envelope = await signCommandFor(request({ ttlSeconds: 60 }));
  assert.is(envelope.node_id, 'node-1');
  assert.is(envelope.action, 'service.stop');
  assert.equal(envelope.args, { unit: 'nginx.service' });
  assert.is(envelope.not_after, '2026-12-06T19:01:00Z', 'whole seconds, rounded down');
  assert.match(envelope.nonce, /^[0-9a-f]{32}$/);
  const trustedKeys = [createPublicKey(await readFile(publicKeyPath, 'utf8'))];
  const nonces = new MemoryNonceLedger();
  const verify = () => verifyCommand(JSON.parse(JSON.stringify(envelope)), { nodeId: 'node-1', trustedKeys, now: NOW + 1000, nonces });
  assert.ok(verify().ok);
  assert.equal(verify(), { ok: false, reason: 'replayed', detail: `nonce ${envelope.nonce} was used before` });
});

test('each envelope gets a fresh nonce; the default lifetime is 5 minutes; args default to {}', async () => {
  const a = await signCommandFor(request({ action: 'restart', args: undefined }));
  const b = await signCommandFor(request({ action: 'restart', args: undefined }));
  assert.is.not(a.nonce, b.nonce);
  assert.equal(a.args, {});
  assert.is(Date.parse(a.not_after), Math.floor((NOW + DEFAULT_COMMAND_TTL_SECONDS * 1000) / 1000) * 1000);
});

test('bad node ids, actions, arguments and lifetimes are refused with typed errors', async () => {
  const badId = await rejection(signCommandFor(request({ nodeId: '../n1' })));
  assert.instance(badId, InvalidIdError);
  const cases: [Partial<CommandRequest>, string][] = [
    [{ action: 'format-disk' }, '"format-disk" is not a command: one of restart, shutdown, service.start, service.stop, service.restart, config.set'],
    [{ args: ['nginx'] }, 'args: a JSON object'],
    [{ args: { value: 'x'.repeat(5000) } }, 'args: at most 4096 bytes of JSON'],
    [{ ttlSeconds: 0 }, `the command's lifetime must be 1..${MAX_COMMAND_TTL_SECONDS} s, not 0`],
    [{ ttlSeconds: MAX_COMMAND_TTL_SECONDS + 1 }, `the command's lifetime must be 1..${MAX_COMMAND_TTL_SECONDS} s, not ${MAX_COMMAND_TTL_SECONDS + 1}`],
    [{ ttlSeconds: 1.5 }, `the command's lifetime must be 1..${MAX_COMMAND_TTL_SECONDS} s, not 1.5`],
  ];
  for (const [fields, message] of cases) {
    const error = await rejection(signCommandFor(request(fields)));
    assert.instance(error, CommandInputError, message);
    assert.is((error as OperatorError).code, 'OPERATOR_ERR_COMMAND');
    assert.is(error.message, message);
  }
});

test('a missing key file, a public key, a non-Ed25519 key and garbage are SigningKeyErrors', async () => {
  const missing = join(dir, 'absent.key');
  const rsaPath = join(dir, 'rsa.key');
  await writeFile(rsaPath, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const garbage = join(dir, 'garbage.key');
  await writeFile(garbage, 'not a key');
  for (const [path, message] of [[missing, `cannot read ${missing}: ENOENT`], [publicKeyPath, 'is not a private key'], [rsaPath, 'is a rsa key, not an Ed25519 one'], [garbage, 'is not a private key']] as const) {
    const error = await rejection(signCommandFor(request({ signingKeyPath: path })));
    assert.instance(error, SigningKeyError, path);
    assert.is((error as OperatorError).code, 'OPERATOR_ERR_SIGNING_KEY');
    assert.match(error.message, message);
  }
});

test.run();
