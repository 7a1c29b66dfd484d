import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BlockError, MAX_BLOCK_NUMBER, blockCount, blockForOffset, blockOffset, blockOption, blockSize, decodeBlock, encodeBlock,
  readBlockOption, rescale, sizeExponentFor, type BlockValue,
} from '../../../src/protocol/block.js';
import { CoapError } from '../../../src/protocol/errors.js';
import { OptionNumber, stringOption } from '../../../src/protocol/options.js';

const block = (num: number, moreBlocks: boolean, sizeExponent: number): BlockValue => ({ num, moreBlocks, sizeExponent });

function assertBlockError(action: () => unknown, pattern: RegExp): void {
  try {
    action();
  } catch (error) {
    assert.instance(error, BlockError);
    assert.instance(error, CoapError);
    assert.is((error as BlockError).code, 'COAP_ERR_BLOCK');
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable('no BlockError');
}

test('RFC 7959 §2.2: NUM=0, M=1, SZX=6 encodes as 0x0E, one byte', () => {
  assert.is(encodeBlock(block(0, true, 6)), 0x0e);
  assert.is(blockOption(OptionNumber.Block2, block(0, true, 6)).value.toString('hex'), '0e');
  assert.equal(decodeBlock(0x0e), block(0, true, 6));
});

test('RFC 7959 §2.2: NUM=0, M=0, SZX=0 is the value 0, an empty option', () => {
  assert.is(encodeBlock(block(0, false, 0)), 0);
  assert.is(blockOption(OptionNumber.Block1, block(0, false, 0)).value.length, 0);
  assert.equal(readBlockOption([{ number: OptionNumber.Block1, value: Buffer.alloc(0) }], OptionNumber.Block1), block(0, false, 0));
});

test('RFC 7959 §3.1 simple block-wise GET: 2:0/1/128, 2:1/1/128, 2:2/0/128 encode as 0x0B, 0x1B, 0x23', () => {
  assert.is(blockOption(OptionNumber.Block2, block(0, true, 3)).value.toString('hex'), '0b');
  assert.is(blockOption(OptionNumber.Block2, block(1, true, 3)).value.toString('hex'), '1b');
  assert.is(blockOption(OptionNumber.Block2, block(2, false, 3)).value.toString('hex'), '23');
  assert.is(blockOffset(block(2, false, 3)), 256);
});

test('NUM takes 4, 12 or 20 bits: the option grows to 1, 2 and 3 bytes', () => {
  assert.is(blockOption(OptionNumber.Block2, block(15, true, 6)).value.toString('hex'), 'fe');
  assert.is(blockOption(OptionNumber.Block2, block(16, false, 6)).value.toString('hex'), '0106');
  assert.is(blockOption(OptionNumber.Block2, block(4095, false, 2)).value.toString('hex'), 'fff2');
  assert.is(blockOption(OptionNumber.Block2, block(4096, true, 4)).value.toString('hex'), '01000c');
  assert.is(blockOption(OptionNumber.Block1, block(MAX_BLOCK_NUMBER, true, 6)).value.toString('hex'), 'fffffe');
  assert.equal(decodeBlock(0xfffffe), block(MAX_BLOCK_NUMBER, true, 6));
});

test('blockSize is 2^(SZX+4): 16 to 1024 bytes, and sizeExponentFor inverts it', () => {
  assert.equal([0, 1, 2, 3, 4, 5, 6].map(blockSize), [16, 32, 64, 128, 256, 512, 1024]);
  assert.equal([16, 32, 64, 128, 256, 512, 1024].map(sizeExponentFor), [0, 1, 2, 3, 4, 5, 6]);
});

test('sizeExponentFor refuses sizes that are not a power of two from 16 to 1024, including 2048', () => {
  for (const size of [0, 8, 100, 2048, -16, 1024.5, Number.NaN]) assertBlockError(() => sizeExponentFor(size), /power of two/);
});

test('RFC 7959 §2.2: SZX 7 is reserved and refused when decoding, encoding and sizing', () => {
  assertBlockError(() => decodeBlock(0x0f), /reserved block size exponent 7/);
  assertBlockError(() => decodeBlock(0xfffff7), /reserved/);
  assertBlockError(() => encodeBlock(block(0, false, 7)), /not 0\.\.6/);
  assertBlockError(() => blockSize(7), /not 0\.\.6/);
});

test('encodeBlock refuses a NUM beyond 20 bits or not an integer', () => {
  assertBlockError(() => encodeBlock(block(MAX_BLOCK_NUMBER + 1, false, 0)), /20 bits/);
  assertBlockError(() => encodeBlock(block(-1, false, 0)), /20 bits/);
  assertBlockError(() => encodeBlock(block(1.5, false, 0)), /20 bits/);
});

test('decodeBlock refuses values beyond 24 bits', () => {
  assertBlockError(() => decodeBlock(0x1000000), /3 bytes/);
  assertBlockError(() => decodeBlock(-1), /3 bytes/);
});

test('readBlockOption reads the first instance, is undefined without one, and refuses more than 3 bytes', () => {
  const options = [stringOption(OptionNumber.UriPath, 'fw'), blockOption(OptionNumber.Block1, block(5, true, 4))];
  assert.equal(readBlockOption(options, OptionNumber.Block1), block(5, true, 4));
  assert.is(readBlockOption(options, OptionNumber.Block2), undefined);
  assertBlockError(() => readBlockOption([{ number: OptionNumber.Block2, value: Buffer.from('0000000e', 'hex') }], OptionNumber.Block2), /4 bytes/);
  assertBlockError(() => readBlockOption([{ number: OptionNumber.Block2, value: Buffer.from('07', 'hex') }], OptionNumber.Block2), /reserved/);
});

test('blockOffset is NUM * block size', () => {
  assert.is(blockOffset(block(0, true, 6)), 0);
  assert.is(blockOffset(block(3, true, 2)), 192);
  assert.is(blockOffset(block(MAX_BLOCK_NUMBER, false, 6)), MAX_BLOCK_NUMBER * 1024);
});

test('blockForOffset gives the block holding a byte offset', () => {
  assert.is(blockForOffset(0, 6), 0);
  assert.is(blockForOffset(1023, 6), 0);
  assert.is(blockForOffset(1024, 6), 1);
  assert.is(blockForOffset(200, 2), 3);
  assertBlockError(() => blockForOffset(-1, 2), /offset/);
  assertBlockError(() => blockForOffset((MAX_BLOCK_NUMBER + 1) * 16, 0), /20 bits/);
});

test('blockCount rounds up, gives 1 for an empty body, and refuses a body too large for 2^20 blocks', () => {
  assert.is(blockCount(0, 6), 1);
  assert.is(blockCount(1, 6), 1);
  assert.is(blockCount(1024, 6), 1);
  assert.is(blockCount(1025, 6), 2);
  assert.is(blockCount(300, 3), 3);
  assert.is(blockCount(1024 * 2 ** 20, 6), 2 ** 20);
  assertBlockError(() => blockCount(1024 * 2 ** 20 + 1, 6), /20 bits/);
  assertBlockError(() => blockCount(-1, 6), /body size/);
});

test('RFC 7959 §3.1 GET with late negotiation: after 2:0/1/128 the client asks 64-byte blocks from 2:2/0/64', () => {
  assert.equal(rescale(block(1, false, 3), 2), block(2, false, 2));
});

test('RFC 7959 §3.2 PUT with negotiation: after a 2.31 with 1:0/1/32 the client continues with 1:4/1/32', () => {
  // The server acknowledged 128 bytes (block 0 of 128) but wants 32-byte blocks.
  assert.equal(rescale(block(1, true, 3), 1), block(4, true, 1));
});

test('rescale to the same size is the identity; to a larger size needs an aligned offset', () => {
  assert.equal(rescale(block(7, true, 4), 4), block(7, true, 4));
  assert.equal(rescale(block(4, false, 4), 6), block(1, false, 6));
  assertBlockError(() => rescale(block(5, false, 4), 6), /does not start on a 1024-byte block/);
  assertBlockError(() => rescale(block(MAX_BLOCK_NUMBER, false, 6), 0), /20 bits/);
  assertBlockError(() => rescale(block(0, false, 6), 7), /not 0\.\.6/);
});

test.run();
