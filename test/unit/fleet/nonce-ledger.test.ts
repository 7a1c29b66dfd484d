// The bounded nonce memory: a remembered nonce is seen until it expires and is swept; at its
// bound it sweeps expired nonces to make room and refuses, with NonceLedgerFullError, rather
// than forget one that has not expired.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FleetError, NonceLedgerFullError } from '../../../src/fleet/errors.js';
import { MemoryNonceLedger } from '../../../src/fleet/nonce-ledger.js';

test('a remembered nonce is seen until it has expired and been swept', () => {
  const ledger = new MemoryNonceLedger(10);
  assert.not.ok(ledger.seen('a'));
  ledger.remember('a', 1000, 0);
  assert.ok(ledger.seen('a'));
  ledger.sweep(1000);
  assert.ok(ledger.seen('a'), 'kept up to and including its not_after');
  ledger.sweep(1001);
  assert.not.ok(ledger.seen('a'));
  assert.is(ledger.size, 0);
});

test('at its bound, expired nonces make room; unexpired ones are never evicted: the new one is refused', () => {
  const ledger = new MemoryNonceLedger(2);
  ledger.remember('a', 1000, 0);
  ledger.remember('b', 5000, 0);
  let refused: unknown;
  try {
    ledger.remember('c', 5000, 500);
  } catch (error) {
    refused = error;
  }
  assert.instance(refused, NonceLedgerFullError);
  assert.instance(refused, FleetError);
  assert.is((refused as NonceLedgerFullError).code, 'FLEET_ERR_COMMAND_NONCES_FULL');
  assert.match((refused as Error).message, 'holds 2 unexpired nonces');
  assert.ok(ledger.seen('a') && ledger.seen('b'), 'both unexpired nonces kept');
  assert.not.ok(ledger.seen('c'));

  ledger.remember('c', 5000, 1001);
  assert.not.ok(ledger.seen('a'), 'the expired one made room');
  assert.ok(ledger.seen('b') && ledger.seen('c'));
  assert.is(ledger.size, 2);
});

test('remembering a nonce twice takes one entry, even when full', () => {
  const ledger = new MemoryNonceLedger(1);
  ledger.remember('a', 1000, 0);
  ledger.remember('a', 1000, 0);
  assert.is(ledger.size, 1);
});

test('a capacity that is not a positive integer is refused', () => {
  for (const capacity of [0, -1, 1.5, Number.NaN]) assert.throws(() => new MemoryNonceLedger(capacity), /positive integer/);
});

test.run();
