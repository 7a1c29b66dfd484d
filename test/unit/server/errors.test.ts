// The gateway's typed errors keep a stable code each: a denied request (4.01, 4.03) is told
// apart from any other refusal by its code, not only by its class or its message; a state
// write the disk refused (5.03) has its own.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StoreWriteError } from '../../../src/fleet/errors.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { CoapError, ResponseError } from '../../../src/protocol/errors.js';
import { AccessDenied, ConfigError, StateUnavailable, StoreError } from '../../../src/server/errors.js';

test('AccessDenied has its own code, GATEWAY_ERR_ACCESS_DENIED, and stays a ResponseError with its CoAP code', () => {
  for (const code of [ResponseCode.Unauthorized, ResponseCode.Forbidden] as const) {
    const denial = new AccessDenied(code, 'not a target');
    assert.instance(denial, ResponseError);
    assert.is(denial.code, 'GATEWAY_ERR_ACCESS_DENIED');
    assert.is(denial.responseCode, code);
    assert.is(denial.name, 'AccessDenied');
  }
  assert.is(new ResponseError(ResponseCode.BadRequest, 'any other refusal').code, 'COAP_ERR_RESPONSE');
});

test('every gateway error is a CoapError with a GATEWAY_ERR_ code', () => {
  const errors: CoapError[] = [
    new ConfigError('port: not a number'),
    new StoreError('the state store is closed'),
    new StateUnavailable(new StoreWriteError('/var/lib/coap-fleet/state', true, 'ENOSPC')),
    new AccessDenied(ResponseCode.Forbidden, 'forbidden'),
  ];
  assert.equal(errors.map((error) => error.code), ['GATEWAY_ERR_CONFIG', 'GATEWAY_ERR_STORE', 'GATEWAY_ERR_STATE_UNAVAILABLE', 'GATEWAY_ERR_ACCESS_DENIED']);
  for (const error of errors) assert.instance(error, CoapError);
});

test.run();
