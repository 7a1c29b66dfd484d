import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockError, blockOption } from '../../../src/protocol/block.js';
import { OptionNumber, type CoapOption } from '../../../src/protocol/options.js';
import { QBlock2Receiver, qBlock2Options, readQBlock2Ask } from '../../../src/protocol/q-block2.js';

const q = (num: number, moreBlocks: boolean, sizeExponent = 6): CoapOption => blockOption(OptionNumber.QBlock2, { num, moreBlocks, sizeExponent });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

test('Q-Block2 with M unset asks for that block alone; several options ask for several blocks, ascending, once each', () => {
  assert.equal(readQBlock2Ask([q(7, false)], 10, 64), { sizeExponent: 6, blocks: [7], streamFrom: undefined });
  assert.equal(readQBlock2Ask([q(9, false), q(3, false), q(9, false)], 10, 64)?.blocks, [3, 9]);
  assert.is(readQBlock2Ask([], 10, 64), undefined);
});

test('Q-Block2 with M set: NUM 0 is the whole body, a multiple of MAX_PAYLOADS is Continue, any other NUM the rest of its set (RFC 9177 §4.4)', () => {
  assert.equal(readQBlock2Ask([q(0, true)], 10, 64), { sizeExponent: 6, blocks: range(0, 9), streamFrom: 0 });
  assert.equal(readQBlock2Ask([q(20, true)], 10, 64), { sizeExponent: 6, blocks: range(20, 29), streamFrom: 20 });
  assert.equal(readQBlock2Ask([q(13, true)], 10, 64), { sizeExponent: 6, blocks: range(13, 19), streamFrom: undefined });
});

test('a request names at most the cap of blocks', () => {
  const options = range(0, 99).map((num) => q(num, false));
  assert.equal(readQBlock2Ask(options, 10, 64)?.blocks, range(0, 63));
});

test('Q-Block2 options of different sizes, or a value that is no block, are refused', () => {
  assert.throws(() => readQBlock2Ask([q(1, false, 6), q(2, false, 5)], 10, 64), (error: unknown) => error instanceof BlockError);
  assert.throws(() => readQBlock2Ask([{ number: OptionNumber.QBlock2, value: Buffer.from([0x0f]) }], 10, 64), (error: unknown) => error instanceof BlockError);
  assert.throws(() => readQBlock2Ask([{ number: OptionNumber.QBlock2, value: Buffer.alloc(4, 1) }], 10, 64), (error: unknown) => error instanceof BlockError);
});

test('qBlock2Options names each block with M unset and reads back the same', () => {
  assert.equal(readQBlock2Ask(qBlock2Options([2, 5, 6], 4), 10, 64), { sizeExponent: 4, blocks: [2, 5, 6], streamFrom: undefined });
});

const block = (num: number, size = 16) => Buffer.alloc(size, num);

test('blocks arriving out of order are held and handed on in order, contiguous; duplicates are told apart', () => {
  const receiver = new QBlock2Receiver(0, 0);
  assert.equal(receiver.plan(0, 4), [0, 1, 2, 3]);
  const late = receiver.add(32, block(2));
  assert.equal(late, { kind: 'new', offset: 0, ready: [] });
  assert.is(receiver.heldBytes, 16);
  const first = receiver.add(0, block(0));
  assert.equal(first, { kind: 'new', offset: 0, ready: [block(0)] });
  const second = receiver.add(16, block(1));
  assert.equal(second, { kind: 'new', offset: 16, ready: [block(1), block(2)] });
  assert.is(receiver.next, 48);
  assert.is(receiver.heldBytes, 0);
  assert.equal(receiver.add(16, block(1)), { kind: 'duplicate' });
  receiver.add(64, block(4));
  assert.equal(receiver.add(64, block(4)), { kind: 'duplicate' });
});

test('the next request asks for the holes first, then new blocks, within the window and the end', () => {
  const receiver = new QBlock2Receiver(0, 0);
  receiver.plan(0, 6);
  for (const num of [0, 2, 5]) receiver.add(num * 16, block(num));
  receiver.end = 9 * 16;
  assert.equal(receiver.plan(0, 4), [1, 3, 4, 6]);
  assert.equal(receiver.plan(0, 10), [1, 3, 4, 6, 7, 8], 'never past the end');
});

test('a body that ended with a short last block already held asks only for the holes before it', () => {
  const receiver = new QBlock2Receiver(0, 0);
  receiver.end = 70;
  assert.equal(receiver.plan(0, 10), [0, 1, 2, 3, 4]);
  receiver.add(0, block(0));
  receiver.add(16, block(1));
  receiver.add(48, block(3));
  receiver.add(64, block(4, 6));
  assert.equal(receiver.plan(0, 10), [2]);
});

test('the block size grows only where nothing is missing and the offset fits it, shrinks at once, never above what the server sends', () => {
  const receiver = new QBlock2Receiver(0, 0);
  receiver.plan(0, 2);
  receiver.add(16, block(1));
  receiver.plan(2, 2);
  assert.is(receiver.sizeExponent, 0, 'a hole at block 0: the size stays');
  receiver.add(0, block(0));
  receiver.add(32, block(2));
  receiver.add(48, block(3));
  assert.is(receiver.next, 64);
  assert.equal(receiver.plan(2, 2), [1, 2], '64 bytes in: blocks of 64 from block 1');
  assert.is(receiver.sizeExponent, 2);
  receiver.serverSize(1);
  receiver.add(64, block(4, 64));
  receiver.add(128, block(5, 64));
  assert.equal(receiver.plan(6, 1), [6]);
  assert.is(receiver.sizeExponent, 1, 'the server sends at most 32-byte blocks');
  receiver.add(224, block(7, 32));
  assert.equal(receiver.plan(0, 3), [12, 13, 16], 'smaller at once, with a hole: 192-224 missing, then new from 256');
  assert.is(receiver.sizeExponent, 0);
});

test('held bytes stay within the capacity past the contiguous end', () => {
  const receiver = new QBlock2Receiver(0, 0, 64);
  assert.equal(receiver.plan(0, 64), [0, 1, 2, 3], 'no more than the capacity is asked for');
  assert.equal(receiver.add(64, block(4)), { kind: 'outside' });
  assert.equal(receiver.add(48, block(3)), { kind: 'new', offset: 0, ready: [] });
});

test('a resumed receiver starts at the block holding its offset; a restart goes back to zero', () => {
  const receiver = new QBlock2Receiver(1000, 6);
  assert.is(receiver.next, 0);
  const resumed = new QBlock2Receiver(3000, 6);
  assert.is(resumed.next, 2048);
  assert.equal(resumed.plan(6, 2), [2, 3]);
  resumed.add(2048, block(2, 1024));
  resumed.restart();
  assert.is(resumed.next, 0);
  assert.equal(resumed.plan(6, 2), [0, 1]);
});

test.run();
