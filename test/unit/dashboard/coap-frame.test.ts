// The page's RFC 8323 §4.2 codec (src/dashboard/public/js/coap-frame.ts), checked against
// the gateway's RFC 7252 codec: a WebSocket frame is the UDP message without its message
// ID and with the first byte's version and type bits zero (Len is 0 over WebSocket), so
// the two must agree byte for byte on everything after that.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decode, encode } from '../../../src/protocol/codec.js';
import { FormatError } from '../../../src/protocol/errors.js';
import { MessageType } from '../../../src/protocol/message.js';
import {
  blockValue, codeText, decodeFrame, encodeFrame, FrameError, Option, readBlock, readUint, uintValue, uriOptions, type Frame,
} from '../../../src/dashboard/public/js/coap-frame.js';

/** The UDP message's bytes as a WebSocket frame: [TKL, Code, Token, Options, Payload]. */
const asWebSocket = (udp: Buffer): Uint8Array => Uint8Array.from([udp[0]! & 0x0f, udp[1]!, ...udp.subarray(4)]);

const frames = fc.record({
  code: fc.integer({ min: 1, max: 0xff }),
  token: fc.uint8Array({ maxLength: 8 }),
  // Deltas and lengths across the 13 and 14 extensions of RFC 7252 §3.1.
  options: fc.array(fc.record({ delta: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 250, max: 2000 })), value: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 6 }),
  payload: fc.uint8Array({ maxLength: 400 }),
}).map(({ code, token, options, payload }): Frame => {
  let number = 0;
  return { code, token, payload, options: options.map(({ delta, value }) => ({ number: (number += delta), value })) };
});

/** The gateway codec refuses known options of the wrong length (RFC 7252 §5.10); the page
 * sends none such, so those frames are not compared. */
function udpBytes(frame: Frame): Buffer {
  let bytes: Buffer | undefined;
  try {
    bytes = encode(toMessage(frame));
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
  }
  fc.pre(bytes !== undefined);
  return bytes!;
}

const toMessage = (frame: Frame) => ({
  type: MessageType.CON, code: frame.code, messageId: 0x1234, token: Buffer.from(frame.token),
  options: frame.options.map((option) => ({ number: option.number, value: Buffer.from(option.value) })), payload: Buffer.from(frame.payload),
});

test('a frame encodes as the gateway codec encodes the same message, less its message ID', () => {
  fc.assert(fc.property(frames, (frame) => {
    assert.equal(Array.from(encodeFrame(frame)), Array.from(asWebSocket(udpBytes(frame))));
  }), { numRuns: 300 });
});

test('what the gateway codec encodes decodes to the same code, token, options and payload', () => {
  fc.assert(fc.property(frames, (frame) => {
    const decoded = decodeFrame(asWebSocket(udpBytes(frame)));
    assert.is(decoded.code, frame.code);
    assert.equal(Array.from(decoded.token), Array.from(frame.token));
    assert.equal(decoded.options.map((option) => [option.number, Array.from(option.value)]), frame.options.map((option) => [option.number, Array.from(option.value)]));
    assert.equal(Array.from(decoded.payload), Array.from(frame.payload));
    // And the gateway reads the page's bytes back the same way.
    const udp = Buffer.from([0x40 | frame.token.length, frame.code, 0x12, 0x34, ...encodeFrame(frame).subarray(2)]);
    assert.equal(Array.from(decode(udp).payload), Array.from(frame.payload));
  }), { numRuns: 300 });
});

test('a CSM with Max-Message-Size, as RFC 8323 §5.3.1 draws it', () => {
  const bytes = encodeFrame({ code: 0xe1, token: new Uint8Array(), options: [{ number: Option.MaxMessageSize, value: uintValue(1152) }], payload: new Uint8Array() });
  assert.equal(Array.from(bytes), [0x00, 0xe1, 0x22, 0x04, 0x80]);
  assert.is(codeText(0xe1), '7.01');
});

test('malformed frames are refused with FrameError, never read past the end', () => {
  for (const bytes of [[0x00], [0x10, 0x45], [0x09, 0x45], [0x04, 0x45, 1, 2], [0x00, 0x45, 0xd1], [0x00, 0x45, 0xff], [0x00, 0x45, 0xf0], [0x00, 0x45, 0x13, 1]]) {
    assert.throws(() => decodeFrame(Uint8Array.from(bytes)), (error: unknown) => error instanceof FrameError, `bytes ${bytes.join(',')}`);
  }
});

test('paths become Uri-Path and Uri-Query options, percent-decoded; Block2 values round-trip', () => {
  const options = uriOptions('/nodes/node%201/logs?unit=a.service&lines=100');
  assert.equal(options.map((option) => [option.number, new TextDecoder().decode(option.value)]),
    [[11, 'nodes'], [11, 'node 1'], [11, 'logs'], [15, 'unit=a.service'], [15, 'lines=100']]);
  assert.equal(readBlock(blockValue({ num: 1000, more: true, szx: 6 })), { num: 1000, more: true, szx: 6 });
  assert.is(readUint(uintValue(0)), 0);
  assert.is(uintValue(0).length, 0);
  assert.is(readUint(uintValue(70_000)), 70_000);
});

test.run();
