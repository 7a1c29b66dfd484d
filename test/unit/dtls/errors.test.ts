// DTLS errors sit under the project's one error root (CoapError) with their stable codes,
// so the command line and the daemons handle them like every other typed error.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsError } from '../../../src/dtls/errors.js';
import { CoapError } from '../../../src/protocol/errors.js';

test('a DtlsError is a CoapError with its code, name and details', () => {
  const cause = new Error('underneath');
  const error = new DtlsError('DTLS_ERR_BAD_PSK', 'the peer has another key', { alert: 20, byPeer: true, cause });
  assert.instance(error, CoapError);
  assert.is(error.code, 'DTLS_ERR_BAD_PSK');
  assert.is(error.name, 'DtlsError');
  assert.is(error.alert, 20);
  assert.ok(error.byPeer);
  assert.is(error.cause, cause);
});

test.run();
