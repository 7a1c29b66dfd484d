import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decode, encode } from '../../src/protocol/codec.js';
import { FormatError } from '../../src/protocol/errors.js';
import { OPTIONS, hasValidLength, type CoapOption } from '../../src/protocol/options.js';
import type { Message, MessageType } from '../../src/protocol/message.js';

const BOUNDS = { numRuns: 2000, interruptAfterTimeLimit: 8000 };
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((array) => Buffer.from(array));

const KNOWN = [...OPTIONS.values()];
const knownOption: fc.Arbitrary<CoapOption> = fc.constantFrom(...KNOWN).chain((definition) =>
  bytes(definition.minLength, Math.min(definition.maxLength, 300)).map((value) => ({ number: definition.number, value })));
// Unregistered numbers, including the extended-delta ranges (13+, 269+).
const unknownOption: fc.Arbitrary<CoapOption> = fc.integer({ min: 0, max: 0xffff })
  .filter((number) => !OPTIONS.has(number))
  .chain((number) => bytes(0, 300).map((value) => ({ number, value })));

const validMessage: fc.Arbitrary<Message> = fc.record({
  type: fc.integer({ min: 0, max: 3 }).map((type) => type as MessageType),
  code: fc.integer({ min: 1, max: 255 }),
  messageId: fc.integer({ min: 0, max: 0xffff }),
  token: bytes(0, 8),
  options: fc.array(fc.oneof(knownOption, unknownOption), { maxLength: 12 }),
  payload: bytes(0, 600),
});

const plain = (message: Message) => ({
  type: message.type, code: message.code, messageId: message.messageId, token: message.token.toString('hex'),
  // The wire order is by option number, stable for repeated options.
  options: [...message.options].sort((a, b) => a.number - b.number).map((o) => [o.number, o.value.toString('hex')]),
  payload: message.payload.toString('hex'),
});

test('decode(encode(m)) equals m for arbitrary valid messages', () => {
  fc.assert(fc.property(validMessage, (message) => {
    assert.equal(plain(decode(encode(message))), plain(message));
  }), BOUNDS);
});

test('arbitrary bytes give a message or a FormatError, and the message is views into the input', () => {
  fc.assert(fc.property(bytes(0, 200), (input) => {
    let message: Message;
    try {
      message = decode(input);
    } catch (error) {
      assert.instance(error, FormatError);
      return;
    }
    for (const view of [message.token, message.payload, ...message.options.map((o) => o.value)]) {
      if (view.length > 0) assert.ok(view.buffer === input.buffer, 'decoded fields are views, not copies');
    }
    // The wire format is canonical (one encoding per delta and length), so what decodes
    // re-encodes to the very same bytes, unless an option breaks its registry bounds.
    if (message.options.every(hasValidLength)) assert.is(encode(message).toString('hex'), input.toString('hex'));
    else assert.throws(() => encode(message), (error: unknown) => error instanceof FormatError);
  }), BOUNDS);
});

test('mutating one byte of a valid datagram gives a message or a FormatError, never anything else', () => {
  fc.assert(fc.property(validMessage, fc.nat(), fc.integer({ min: 0, max: 255 }), (message, where, value) => {
    const wire = Buffer.from(encode(message));
    wire[where % wire.length] = value;
    try {
      decode(wire);
    } catch (error) {
      assert.instance(error, FormatError);
    }
  }), BOUNDS);
});

test('truncating a valid datagram anywhere gives a message or a FormatError', () => {
  fc.assert(fc.property(validMessage, fc.nat(), (message, cut) => {
    const wire = encode(message);
    try {
      decode(wire.subarray(0, cut % (wire.length + 1)));
    } catch (error) {
      assert.instance(error, FormatError);
    }
  }), BOUNDS);
});

test('encode refuses tokens over 8 bytes', () => {
  fc.assert(fc.property(validMessage, bytes(9, 32), (message, token) => {
    assert.throws(() => encode({ ...message, token }), (error: unknown) => error instanceof FormatError);
  }), BOUNDS);
});

test('encode refuses registered options whose length is outside the registry bounds', () => {
  const tooLong = fc.constantFrom(...KNOWN).chain((definition) =>
    bytes(definition.maxLength + 1, definition.maxLength + 20).map((value) => ({ number: definition.number, value })));
  const tooShort = fc.constantFrom(...KNOWN.filter((definition) => definition.minLength > 0)).map((definition) =>
    ({ number: definition.number, value: Buffer.alloc(definition.minLength - 1) }));
  fc.assert(fc.property(validMessage, fc.oneof(tooLong, tooShort), (message, bad) => {
    assert.throws(() => encode({ ...message, options: [...message.options, bad] }), (error: unknown) => error instanceof FormatError);
  }), BOUNDS);
});

test.run();
