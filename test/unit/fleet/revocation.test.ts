// The revocation list's shapes (src/fleet/revocation.ts): what a request may name, and the
// keys under which a presented certificate is looked up.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CertificateError } from '../../../src/fleet/errors.js';
import { parseRevocationRequest, revocationKeysOf } from '../../../src/fleet/revocation.js';

const refused = (request: Parameters<typeof parseRevocationRequest>[0]): boolean => {
  try {
    parseRevocationRequest(request);
    return false;
  } catch (error) {
    return error instanceof CertificateError;
  }
};

test('a serial in any spelling, or a subject that is a principal (alone or as a CN); one of them', () => {
  assert.equal(parseRevocationRequest({ serial: '00:0A:1b' }), { kind: 'serial', value: 'a1b', reason: null });
  assert.equal(parseRevocationRequest({ subject: 'node:n1', reason: 'lost' }), { kind: 'subject', value: 'node:n1', reason: 'lost' });
  assert.equal(parseRevocationRequest({ subject: 'CN=operator:alice, O=coap-fleet' }), { kind: 'subject', value: 'operator:alice', reason: null });
  for (const request of [{}, { serial: 'ab', subject: 'node:n1' }, { serial: 'xyz' }, { subject: 'gateway' }, { subject: 'node:a/b' }, { serial: 'ab', reason: 'x'.repeat(201) }]) {
    assert.ok(refused(request), JSON.stringify(request));
  }
});

test('a presented certificate is looked up by its serial and by its principal', () => {
  assert.equal(revocationKeysOf({ serial: '0ab', subject: 'CN=node:n1, O=coap-fleet' }), ['serial:ab', 'subject:node:n1']);
  assert.equal(revocationKeysOf({ serial: 'ab', subject: 'CN=gw.example, O=coap-fleet' }), ['serial:ab']);
});

test.run();
