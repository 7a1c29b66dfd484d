// Request bodies held in memory (manifest uploads): each bounded by its resource's size, and
// all of them together bounded in all and per caller, so a few large uploads cannot take
// the gateway's memory; what an upload held goes back when it is read or abandoned.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ResponseError } from '../../../src/protocol/errors.js';
import { BodyBudget, BufferUpload } from '../../../src/server/buffer-upload.js';

const refusal = (write: () => void): { code: number; maxAge: number | undefined } => {
  try {
    write();
  } catch (error) {
    if (error instanceof ResponseError) return { code: error.responseCode, maxAge: error.maxAge };
    throw error;
  }
  throw new Error('the write was not refused');
};

test('one caller holds at most its share, all callers at most the total: 5.03 with Max-Age past either', () => {
  const budget = new BodyBudget({ totalBytes: 3000, perCallerBytes: 2000 });
  const alice1 = new BufferUpload(10_000, budget, 'operator:alice');
  const alice2 = new BufferUpload(10_000, budget, 'operator:alice');
  alice1.write(Buffer.alloc(1024), 0);
  alice2.write(Buffer.alloc(900), 0);
  assert.equal(refusal(() => alice2.write(Buffer.alloc(200), 900)), { code: ResponseCode.ServiceUnavailable, maxAge: 5 }, 'alice past her share');
  const bob = new BufferUpload(10_000, budget, 'operator:bob');
  bob.write(Buffer.alloc(1000), 0);
  assert.equal(refusal(() => bob.write(Buffer.alloc(100), 1000)), { code: ResponseCode.ServiceUnavailable, maxAge: 5 }, 'past the total');
  assert.is(budget.held, 2924);

  assert.is(alice1.bytes().length, 1024, 'the body, whole');
  assert.is(alice1.bytes().length, 1024, 'and again: the same body');
  alice2.abort();
  assert.is(budget.held, 1000, 'a read body and an abandoned one are off the budget');
  bob.write(Buffer.alloc(1000), 1000);
  assert.is(budget.held, 2000);
});

test('a body over its own limit is 4.13 with Size1, and takes nothing from the budget', () => {
  const budget = new BodyBudget({ totalBytes: 1 << 20, perCallerBytes: 1 << 20 });
  const upload = new BufferUpload(1024, budget, 'operator:alice');
  upload.write(Buffer.alloc(1000), 0);
  assert.is(refusal(() => upload.write(Buffer.alloc(100), 1000)).code, ResponseCode.RequestEntityTooLarge);
  assert.is(budget.held, 1000);
  upload.abort();
  assert.is(budget.held, 0);
});

test.run();
