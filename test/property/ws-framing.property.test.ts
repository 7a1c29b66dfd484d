import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decode, encode } from '../../src/protocol/codec.js';
import { FormatError } from '../../src/protocol/errors.js';
import { OPTIONS, type CoapOption } from '../../src/protocol/options.js';
import { decodeFrame, encodeFrame, SIGNAL_OPTIONS, SignalCode, type FramedMessage } from '../../src/protocol/ws-framing.js';

const BOUNDS = { numRuns: 2000, interruptAfterTimeLimit: 8000 };
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((array) => Buffer.from(array));

const knownOption: fc.Arbitrary<CoapOption> = fc.constantFrom(...OPTIONS.values()).chain((definition) =>
  bytes(definition.minLength, Math.min(definition.maxLength, 300)).map((value) => ({ number: definition.number, value })));
const unknownOption: fc.Arbitrary<CoapOption> = fc.integer({ min: 0, max: 0xffff })
  .filter((number) => !OPTIONS.has(number))
  .chain((number) => bytes(0, 300).map((value) => ({ number, value })));

/** Requests and responses (classes 0, 2, 4, 5) with RFC 7252 options. */
const coapMessage: fc.Arbitrary<FramedMessage> = fc.record({
  code: fc.integer({ min: 0, max: 191 }).filter((code) => code >> 5 !== 1),
  token: bytes(0, 8),
  options: fc.array(fc.oneof(knownOption, unknownOption), { maxLength: 12 }),
  payload: bytes(0, 600),
});

/** Signals with their own options (RFC 8323 §5), within each one's length bounds. */
const signalMessage: fc.Arbitrary<FramedMessage> = fc.constantFrom(...Object.values(SignalCode)).chain((code) => {
  const definitions = [...SIGNAL_OPTIONS.get(code)!.values()];
  const option = fc.constantFrom(...definitions).chain((definition) =>
    bytes(definition.minLength, definition.maxLength).map((value) => ({ number: definition.number, value })));
  return fc.record({ code: fc.constant(code), token: bytes(0, 8), options: fc.array(option, { maxLength: 4 }), payload: bytes(0, 100) });
});

const plain = (message: FramedMessage) => ({
  code: message.code, token: message.token.toString('hex'),
  options: [...message.options].sort((a, b) => a.number - b.number).map((o) => [o.number, o.value.toString('hex')]),
  payload: message.payload.toString('hex'),
});

test('decodeFrame(encodeFrame(m)) equals m for requests, responses and signals', () => {
  fc.assert(fc.property(fc.oneof(coapMessage, signalMessage), (message) => {
    assert.equal(plain(decodeFrame(encodeFrame(message))), plain(message));
  }), BOUNDS);
});

test('the frame is the UDP message with its 4-byte header replaced by Len=0|TKL and Code (RFC 8323 §4.2)', () => {
  fc.assert(fc.property(coapMessage.filter((message) => message.code !== 0), (message) => {
    const udp = encode({ ...message, type: 0, messageId: 0x1234 });
    const framed = encodeFrame(message);
    assert.is(framed[0], message.token.length);
    assert.is(framed[1], message.code);
    assert.is(framed.subarray(2).toString('hex'), udp.subarray(4).toString('hex'));
    assert.equal(plain(decodeFrame(framed)), plain(decode(udp)));
  }), BOUNDS);
});

test('arbitrary bytes give a message or a FormatError, never anything else; what decodes re-encodes to the same bytes', () => {
  fc.assert(fc.property(bytes(0, 200), (input) => {
    let message: FramedMessage;
    try {
      message = decodeFrame(input);
    } catch (error) {
      assert.instance(error, FormatError);
      return;
    }
    assert.is(input[0]! >> 4, 0, 'a length nibble is refused');
    try {
      assert.is(encodeFrame(message).toString('hex'), input.toString('hex'));
    } catch (error) {
      // Only an option outside its registry's bounds may refuse to encode again.
      assert.instance(error, FormatError);
    }
  }), BOUNDS);
});

test('a length nibble, a reserved token length, a truncated token and a lone payload marker are FormatErrors', () => {
  for (const hex of ['10 45', '09 45 0102030405060708 09', '04 45 0102', '00 45 ff', '00']) {
    assert.throws(() => decodeFrame(Buffer.from(hex.replace(/ /g, ''), 'hex')), (error: unknown) => error instanceof FormatError, hex);
  }
});

test('a CSM with Max-Message-Size encodes as RFC 8323 §5.3 shows it', () => {
  // 7.01 (0xe1), no token, option 2 (delta 2, length 2) = 0x0480 (1152).
  const bytesOut = encodeFrame({ code: SignalCode.CSM, token: Buffer.alloc(0), options: [{ number: 2, value: Buffer.from([0x04, 0x80]) }], payload: Buffer.alloc(0) });
  assert.is(bytesOut.toString('hex'), '00e1220480');
  // Signal options are checked against the signal's registry: Block-Wise-Transfer is empty.
  assert.throws(() => encodeFrame({ code: SignalCode.CSM, token: Buffer.alloc(0), options: [{ number: 4, value: Buffer.from([1]) }], payload: Buffer.alloc(0) }),
    (error: unknown) => error instanceof FormatError);
});

test.run();
