// The domain's errors under one root, FleetError (a CoapError), each with a stable code:
// what decoding CBOR, comparing versions, checking and writing a store throw.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCbor } from '../../../src/fleet/cbor.js';
import { CborError, FleetError, StoreCorruptError, StoreWriteError, VersionError } from '../../../src/fleet/errors.js';
import { compareVersions } from '../../../src/fleet/version.js';
import { CoapError } from '../../../src/protocol/errors.js';

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

test('bad CBOR throws CborError, a FleetError with code FLEET_ERR_CBOR', () => {
  const error = thrownBy(() => decodeCbor(Buffer.from([0x9f])));
  assert.instance(error, CborError);
  assert.instance(error, FleetError);
  assert.instance(error, CoapError);
  assert.is((error as CborError).code, 'FLEET_ERR_CBOR');
  assert.is((error as CborError).name, 'CborError');
});

test('comparing a string that is not a version throws VersionError (FLEET_ERR_VERSION)', () => {
  const error = thrownBy(() => compareVersions('2.0.0', 'latest'));
  assert.instance(error, VersionError);
  assert.instance(error, FleetError);
  assert.is((error as VersionError).code, 'FLEET_ERR_VERSION');
  assert.is((error as VersionError).message, 'not a version: "latest"');
});

test('the store errors are FleetErrors and keep their codes', () => {
  const errors: FleetError[] = [
    new StoreCorruptError('/data/state', 'bad magic'),
    new StoreWriteError('/data/state', true, 'ENOSPC'),
    new StoreWriteError('/data/state', false, 'EACCES'),
  ];
  for (const error of errors) assert.instance(error, FleetError);
  assert.equal(errors.map((error) => error.code), ['STORE_CORRUPT', 'STORE_NO_SPACE', 'STORE_WRITE_FAILED']);
});

test.run();
