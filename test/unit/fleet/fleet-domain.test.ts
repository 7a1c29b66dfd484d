import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { decodeCbor, encodeCbor } from '../../../src/fleet/cbor.js';
import { CborError } from '../../../src/fleet/errors.js';
import { parseManifest, signManifest, verifyManifest, DEFAULT_POLICY, type UnsignedManifest } from '../../../src/fleet/manifest.js';
import { compareVersions } from '../../../src/fleet/version.js';
import { decideInstall, rolloutState } from '../../../src/fleet/rollout.js';
import { acceptsReport, canTransition, type NodeUpdateStatus } from '../../../src/fleet/update-state.js';
import { principalFromIdentity } from '../../../src/fleet/identity.js';
import { parseHealth, parseRegistration, parseStatusReport } from '../../../src/fleet/schemas.js';
import { check } from '../../helpers/check.js';

const keys = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const unsigned: UnsignedManifest = {
  update_id: 'fw-2.1.0', version: '2.1.0', size: 4096, checksum: `sha256:${'ab'.repeat(32)}`, target_nodes: ['n1', 'n2'], policy: DEFAULT_POLICY,
};

test('a signed manifest verifies with the publisher key and not with another, nor after any signed field changes', () => {
  const manifest = signManifest(unsigned, keys.privateKey);
  assert.ok(verifyManifest(manifest, keys.publicKey));
  assert.not.ok(verifyManifest(manifest, other.publicKey));
  for (const tampered of [
    { ...manifest, version: '2.1.1' }, { ...manifest, size: 4097 }, { ...manifest, checksum: `sha256:${'cd'.repeat(32)}` },
    { ...manifest, target_nodes: ['n1', 'n3'] }, { ...manifest, update_id: 'fw-x' }, { ...manifest, signature: 'AAAA' },
  ]) assert.not.ok(verifyManifest(tampered, keys.publicKey), JSON.stringify(tampered));
  // The policy is the operator's to change and is not signed; target order does not matter.
  assert.ok(verifyManifest({ ...manifest, policy: { ...DEFAULT_POLICY, max_parallel_installs: 9 }, target_nodes: ['n2', 'n1'] }, keys.publicKey));
});

test('parseManifest accepts a good manifest and names every problem of a bad one', () => {
  const manifest = signManifest(unsigned, keys.privateKey);
  assert.ok('manifest' in parseManifest(JSON.parse(JSON.stringify(manifest))));
  const result = parseManifest({ update_id: '../x', version: 'two', size: -1, checksum: 'md5:1', target_nodes: [], signature: 1, policy: { max_parallel_installs: 0 } });
  assert.ok('problems' in result);
  if ('problems' in result) assert.is(result.problems.length, 7);
  assert.ok('problems' in parseManifest(null));
});

test('versions compare numerically with pre-releases before their release', () => {
  assert.ok(compareVersions('2.10.0', '2.9.9') > 0);
  assert.ok(compareVersions('2.1.0-rc.1', '2.1.0') < 0);
  assert.ok(compareVersions('2.1.0-rc.2', '2.1.0-rc.10') < 0);
  assert.is(compareVersions('1.0', '1.0.0'), 0);
  assert.throws(() => compareVersions('x', '1'));
});

const status = (state: NodeUpdateStatus['state']): NodeUpdateStatus => ({ state, progress: 0, error: null, updated_at: '' });

test('install gating: max parallel, canaries first, pause, abort on the failure threshold, completion', () => {
  const policy = { max_parallel_installs: 1, canary: 1, failure_threshold: 2 };
  const targets = ['c', 'a', 'b'];
  let statuses = new Map([['c', status('downloaded')], ['a', status('downloaded')], ['b', status('pending')]]);
  assert.equal(decideInstall('active', policy, targets, statuses, 'a', { now: 0 }).go, false, 'a waits for the canary');
  assert.equal(decideInstall('active', policy, targets, statuses, 'c', { now: 0 }).go, true);
  statuses = new Map([...statuses, ['c', status('installing')]]);
  assert.equal(decideInstall('active', policy, targets, statuses, 'c', { now: 0 }).go, true, 'asking again keeps the slot');
  statuses = new Map([...statuses, ['c', status('installed')]]);
  assert.equal(decideInstall('active', policy, targets, statuses, 'a', { now: 0 }).go, true);
  statuses = new Map([...statuses, ['a', status('installing')]]);
  const busy = decideInstall('active', policy, targets, statuses, 'b', { now: 0 });
  assert.ok(!busy.go && busy.retryAfterSeconds > 0 && !busy.final);
  assert.ok(!decideInstall('paused', policy, targets, statuses, 'b', { now: 0 }).go);
  assert.is(rolloutState('active', policy, [status('failed'), status('rolled_back'), status('pending')]), 'aborted');
  assert.is(rolloutState('active', policy, [status('installed'), status('failed')]), 'completed');
  assert.is(rolloutState('cancelled', policy, [status('installed')]), 'cancelled');
});

test('node states: the agent moves one step at a time; the gateway takes forward reports only', () => {
  assert.ok(canTransition('pending', 'downloading'));
  assert.not.ok(canTransition('pending', 'installed'));
  assert.not.ok(canTransition('installed', 'failed'));
  assert.ok(acceptsReport('pending', 'downloaded'), 'a lost report in between is fine');
  assert.not.ok(acceptsReport('installing', 'downloading'));
  assert.not.ok(acceptsReport('installed', 'installing'));
  assert.ok(acceptsReport('downloading', 'downloading'));
});

test('principals come from a PSK identity or the CN of a certificate subject', () => {
  assert.equal(principalFromIdentity('node:n1'), { role: 'node', name: 'n1' });
  assert.equal(principalFromIdentity('O=coap-fleet, CN=operator:alice'), { role: 'operator', name: 'alice' });
  assert.is(principalFromIdentity('CN=root'), undefined);
  assert.is(principalFromIdentity('node:../etc'), undefined);
  assert.is(principalFromIdentity(undefined), undefined);
});

test('payload schemas take good reports and answer 4.00 naming the problems', () => {
  assert.is(parseRegistration({ node_id: 'n1', version: '1.0.0', hardware: 'a55', agent_port: 5690 }).node_id, 'n1');
  assert.is(parseHealth({ status: 'healthy', cpu_percent: 12.5, memory_percent: 40, temperature: null, timestamp: new Date().toISOString() }).status, 'healthy');
  assert.is(parseStatusReport({ state: 'downloading', progress: 0.5 }).progress, 0.5);
  for (const [parse, input] of [[parseRegistration, { node_id: '', version: 'x' }], [parseHealth, { status: 'on fire' }], [parseStatusReport, { state: 'done' }], [parseStatusReport, 'x']] as const) {
    try {
      (parse as (input: unknown) => unknown)(input);
      assert.unreachable();
    } catch (error) {
      assert.is((error as { responseCode?: number }).responseCode, 0x80);
    }
  }
});

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(),
    fc.array(tie('value'), { maxLength: 5 }), fc.dictionary(fc.string(), tie('value'), { maxKeys: 5, noNullPrototype: true })),
})).value;

test('CBOR: decode(encode(v)) equals v for JSON-like values; arbitrary bytes give a value or a CborError', async () => {
  await check(fc.property(json, (value) => {
    assert.equal(decodeCbor(encodeCbor(value)), Object.is(value, -0) ? 0 : value);
  }), { numRuns: 500, interruptAfterTimeLimit: 4000 });
  await check(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    try {
      decodeCbor(Buffer.from(bytes));
    } catch (error) {
      assert.instance(error, CborError);
    }
  }), { numRuns: 2000, interruptAfterTimeLimit: 4000 });
  // RFC 8949 Appendix A vectors.
  assert.is(encodeCbor(1000000).toString('hex'), '1a000f4240');
  assert.is(encodeCbor(-1000).toString('hex'), '3903e7');
  assert.is(encodeCbor({ a: 1, b: [2, 3] }).toString('hex'), 'a26161016162820203');
  assert.equal(decodeCbor(Buffer.from('f93c00', 'hex')), 1);
});

test.run();
