// The signed command envelope (DESIGN §6): a good envelope verifies once; unsigned, badly
// signed (each signed field tampered), unknown-key, expired, too-far-in-future, replayed
// and other-node envelopes are each refused with their reason; the canonical bytes do not
// depend on the arguments' key order; parsing names every problem.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  commandSignedBytes, keyId, MAX_COMMAND_ARGS_BYTES, parseCommand, parseUtcTime, signCommand, verifyCommand,
  type CommandEnvelope, type CommandVerdict, type UnsignedCommand,
} from '../../../src/fleet/command-envelope.js';
import { CommandMalformedError, FleetError } from '../../../src/fleet/errors.js';
import { MemoryNonceLedger } from '../../../src/fleet/nonce-ledger.js';

const operator = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const NOW = Date.parse('2026-12-06T19:00:00Z');

const unsigned = (fields: Partial<UnsignedCommand> = {}): UnsignedCommand => ({
  node_id: 'node-1', action: 'service.restart', args: { unit: 'nginx.service', opts: { b: 2, a: [1, 'x'] } },
  not_after: '2026-12-06T19:05:00Z', nonce: '00112233445566778899aabbccddeeff', ...fields,
});

const options = (fields: { now?: number; nodeId?: string; trustedKeys?: KeyObject[]; nonces?: MemoryNonceLedger } = {}) => ({
  nodeId: fields.nodeId ?? 'node-1', trustedKeys: fields.trustedKeys ?? [operator.publicKey], now: fields.now ?? NOW,
  nonces: fields.nonces ?? new MemoryNonceLedger(),
});

function refusal(verdict: CommandVerdict): string {
  return verdict.ok ? 'ok' : verdict.reason;
}

test('a good envelope verifies once; its second use is refused as replayed', () => {
  const envelope = signCommand(unsigned(), operator.privateKey);
  assert.is(envelope.v, 1);
  assert.is(envelope.key_id, keyId(operator.publicKey));
  const nonces = new MemoryNonceLedger();
  const first = verifyCommand(JSON.parse(JSON.stringify(envelope)), options({ nonces }));
  assert.ok(first.ok, JSON.stringify(first));
  const second = verifyCommand(envelope, options({ nonces }));
  assert.is(refusal(second), 'replayed');
  assert.match((second as { detail: string }).detail, envelope.nonce);
});

test('the trusted keys may be given by key id', () => {
  const envelope = signCommand(unsigned(), operator.privateKey);
  const verdict = verifyCommand(envelope, { ...options(), trustedKeys: new Map([[keyId(operator.publicKey), operator.publicKey]]) });
  assert.ok(verdict.ok);
});

test('an envelope without a signature is refused as unsigned', () => {
  const { signature: _signature, ...bare } = signCommand(unsigned(), operator.privateKey);
  assert.is(refusal(verifyCommand(bare, options())), 'unsigned');
  assert.is(refusal(verifyCommand({ ...bare, signature: '' }, options())), 'unsigned');
  assert.is(refusal(verifyCommand({ ...bare, signature: null }, options())), 'unsigned');
});

test('each signed field tampered after signing is refused as bad-signature', () => {
  const envelope = signCommand(unsigned(), operator.privateKey);
  const tampered: Record<string, Partial<CommandEnvelope>> = {
    action: { action: 'shutdown' },
    args: { args: { unit: 'sshd.service', opts: { b: 2, a: [1, 'x'] } } },
    'nested args': { args: { unit: 'nginx.service', opts: { b: 3, a: [1, 'x'] } } },
    node: { node_id: 'node-2' },
    not_after: { not_after: '2026-12-06T19:06:00Z' },
    nonce: { nonce: 'ffeeddccbbaa99887766554433221100' },
  };
  for (const [what, change] of Object.entries(tampered)) {
    const nodeId = change.node_id ?? 'node-1';
    const verdict = verifyCommand({ ...envelope, ...change }, options({ nodeId }));
    assert.is(refusal(verdict), 'bad-signature', what);
  }
});

test('a signature by a key the node does not pin is refused as unknown-key, one it pins under another id as bad-signature', () => {
  const foreign = signCommand(unsigned(), stranger.privateKey);
  assert.is(refusal(verifyCommand(foreign, options())), 'unknown-key');
  // The stranger signs but claims the operator's key id.
  const claimed = { ...foreign, key_id: keyId(operator.publicKey) };
  assert.is(refusal(verifyCommand(claimed, options())), 'bad-signature');
});

test('expired and too-far-in-future envelopes are refused; the bounds themselves are accepted', () => {
  const envelope = signCommand(unsigned(), operator.privateKey);
  const notAfter = Date.parse(envelope.not_after);
  assert.is(refusal(verifyCommand(envelope, options({ now: notAfter + 1 }))), 'expired');
  assert.ok(verifyCommand(envelope, options({ now: notAfter })).ok, 'valid up to and including not_after');

  const lasting = signCommand(unsigned({ not_after: '2026-12-06T20:05:00Z' }), operator.privateKey);
  assert.ok(verifyCommand(lasting, options()).ok, '1 h + 5 min of clock skew ahead is accepted');
  const forever = signCommand(unsigned({ not_after: '2026-12-06T20:05:01Z' }), operator.privateKey);
  assert.is(refusal(verifyCommand(forever, options())), 'too-far-in-future');
  assert.is(refusal(verifyCommand(signCommand(unsigned({ not_after: '2099-01-01T00:00:00Z' }), operator.privateKey), options())), 'too-far-in-future');
});

test('an envelope for another node is refused as other-node', () => {
  const envelope = signCommand(unsigned({ node_id: 'node-2' }), operator.privateKey);
  const verdict = verifyCommand(envelope, options());
  assert.is(refusal(verdict), 'other-node');
  assert.match((verdict as { detail: string }).detail, 'node-2');
});

test('refused envelopes do not use up their nonce: a forged or stale one cannot block the real one', () => {
  const nonces = new MemoryNonceLedger();
  const envelope = signCommand(unsigned(), operator.privateKey);
  assert.is(refusal(verifyCommand({ ...envelope, action: 'shutdown' }, options({ nonces }))), 'bad-signature');
  assert.is(refusal(verifyCommand(envelope, options({ nonces, nodeId: 'node-9' }))), 'other-node');
  assert.is(nonces.size, 0);
  assert.ok(verifyCommand(envelope, options({ nonces })).ok);
});

test('when the nonce memory is full of unexpired nonces a good envelope is refused as replayed, naming the bound', () => {
  const nonces = new MemoryNonceLedger(1);
  assert.ok(verifyCommand(signCommand(unsigned(), operator.privateKey), options({ nonces })).ok);
  const next = signCommand(unsigned({ nonce: 'ffeeddccbbaa99887766554433221100' }), operator.privateKey);
  const verdict = verifyCommand(next, options({ nonces }));
  assert.is(refusal(verdict), 'replayed');
  assert.match((verdict as { detail: string }).detail, 'holds 1 unexpired nonces');
});

test('malformed input is refused as malformed, never thrown', () => {
  for (const input of [null, 'text', 42, [], { signature: 'x' }]) {
    assert.is(refusal(verifyCommand(input, options())), 'malformed', JSON.stringify(input));
  }
});

test('the canonical bytes do not depend on the arguments\' key order, and start with the domain', () => {
  const a = unsigned({ args: { unit: 'nginx.service', opts: { a: 1, b: { y: 2, x: 1 } } } });
  const b = unsigned({ args: { opts: { b: { x: 1, y: 2 }, a: 1 }, unit: 'nginx.service' } });
  const withKey = { key_id: keyId(operator.publicKey) };
  assert.equal(commandSignedBytes({ ...a, ...withKey }), commandSignedBytes({ ...b, ...withKey }));
  assert.ok(commandSignedBytes({ ...a, ...withKey }).subarray(4).toString().startsWith('coap-fleet-command-v1'));
  const signed = signCommand(a, operator.privateKey);
  assert.ok(verifyCommand({ ...signed, args: b.args }, options()).ok, 'a reordered copy still verifies');
});

test('fields cannot shift into one another: the same concatenation in two fields gives different bytes', () => {
  const withKey = { key_id: keyId(operator.publicKey) };
  const one = commandSignedBytes({ ...unsigned({ node_id: 'node-1' }), ...withKey });
  const other = commandSignedBytes({ ...unsigned({ node_id: 'node-1r', action: 'estart' as 'restart' }), ...withKey });
  assert.is.not(one.toString('hex'), other.toString('hex'));
});

test('parseCommand names every problem', () => {
  const parsed = parseCommand({
    v: 2, node_id: '../x', action: 'format-disk', args: [1], not_after: '2026-02-30T00:00:00Z', nonce: 'abc', key_id: 'XYZ',
    signature: 'c2hvcnQ=', extra: true,
  });
  assert.ok('problems' in parsed);
  const problems = (parsed as { problems: string[] }).problems;
  for (const field of ['v', 'node_id', 'action', 'args', 'not_after', 'nonce', 'key_id', 'signature', 'extra']) {
    assert.ok(problems.some((problem) => problem.startsWith(`${field}:`)), `${field} named in ${JSON.stringify(problems)}`);
  }
  assert.equal(parseCommand('nope'), { problems: ['command must be an object'] });
});

test('arguments are bounded in size and depth, and must be JSON', () => {
  const big = { value: 'x'.repeat(MAX_COMMAND_ARGS_BYTES) };
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 20; i++) deep = { d: deep };
  const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]));
  const long = { list: Array.from({ length: 100_000 }, () => 0) };
  const manyNested = { a: Array.from({ length: 1000 }, () => 'abcdef') };
  for (const [args, problem] of [[big, 'args: at most 4096 bytes'], [wide, 'args: at most 4096 bytes'], [long, 'args: at most 4096 bytes'],
    [manyNested, 'args: at most 4096 bytes'], [deep, 'nested deeper'], [{ n: Number.NaN }, 'not finite'], [{ d: new Date(0) }, 'not JSON']] as const) {
    const error = (() => {
      try {
        signCommand(unsigned({ args: args as never }), operator.privateKey);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    assert.instance(error, CommandMalformedError, problem);
    assert.instance(error, FleetError);
    assert.is((error as CommandMalformedError).code, 'FLEET_ERR_COMMAND_MALFORMED');
    assert.match((error as Error).message, problem);
  }
});

test('RFC 3339 UTC times: seconds or milliseconds, Z only, real dates only', () => {
  assert.is(parseUtcTime('2026-12-06T19:05:00Z'), Date.parse('2026-12-06T19:05:00Z'));
  assert.is(parseUtcTime('2026-12-06T19:05:00.250Z'), Date.parse('2026-12-06T19:05:00.250Z'));
  for (const bad of ['2026-12-06T19:05:00+01:00', '2026-12-06 19:05:00Z', '2026-02-30T00:00:00Z', '2026-12-06T24:00:00Z', 'tomorrow']) {
    assert.is(parseUtcTime(bad), undefined, bad);
  }
});

test('property: any single-byte change of the signature, or any change of a signed field, fails verification', () => {
  const envelope = signCommand(unsigned(), operator.privateKey);
  const signature = Buffer.from(envelope.signature, 'base64');
  fc.assert(fc.property(fc.nat(signature.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
    const changed = Buffer.from(signature);
    changed[index]! ^= flip;
    return !verifyCommand({ ...envelope, signature: changed.toString('base64') }, options()).ok;
  }), { numRuns: 200 });

  const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
  const change = fc.oneof(
    fc.constantFrom('restart', 'shutdown', 'service.start', 'service.stop', 'config.set').map((action) => ({ action })),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 4 })
      .map((args) => ({ args })),
    fc.stringMatching(/^[A-Za-z0-9._-]{1,16}$/).map((node_id) => ({ node_id })),
    fc.integer({ min: 1, max: 3600 }).map((seconds) => ({ not_after: new Date(NOW + seconds * 1000).toISOString().replace('.000Z', 'Z') })),
    hex(32).map((nonce) => ({ nonce })),
  );
  fc.assert(fc.property(change, (fields) => {
    const candidate = { ...envelope, ...fields };
    // A "change" to the value it already has is no change.
    if (Object.entries(fields).every(([name, value]) => isDeepStrictEqual(value, envelope[name as keyof CommandEnvelope]))) return true;
    return !verifyCommand(candidate, options({ nodeId: candidate.node_id })).ok;
  }), { numRuns: 300 });
});

test.run();
