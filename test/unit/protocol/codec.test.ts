import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../src/protocol/codec.js';
import { FormatError } from '../../../src/protocol/errors.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { MessageType, emptyMessage, type Message } from '../../../src/protocol/message.js';
import { OptionNumber, stringOption, uintOption, getStringOptions } from '../../../src/protocol/options.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const ascii = (text: string): string => Buffer.from(text).toString('hex');

function message(fields: Partial<Message>): Message {
  return {
    type: MessageType.CON, code: Method.GET, messageId: 0, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0),
    ...fields,
  };
}

function assertVector(name: string, value: Message, bytes: Buffer): void {
  test(`RFC 7252 Appendix A: ${name} encodes byte for byte and decodes back`, () => {
    assert.is(encode(value).toString('hex'), bytes.toString('hex'));
    const decoded = decode(bytes);
    assert.is(decoded.type, value.type);
    assert.is(decoded.code, value.code);
    assert.is(decoded.messageId, value.messageId);
    assert.is(decoded.token.toString('hex'), value.token.toString('hex'));
    assert.equal(decoded.options.map((o) => [o.number, o.value.toString('hex')]), value.options.map((o) => [o.number, o.value.toString('hex')]));
    assert.is(decoded.payload.toString('hex'), value.payload.toString('hex'));
  });
}

const temperature = [stringOption(OptionNumber.UriPath, 'temperature')];
const reading = Buffer.from('22.3 C');

// Figure 16: CON GET /temperature, piggybacked 2.05.
assertVector('Figure 16 request', message({ messageId: 0x7d34, options: temperature }), hex(`40 01 7d34 bb ${ascii('temperature')}`));
assertVector('Figure 16 response', message({ type: MessageType.ACK, code: ResponseCode.Content, messageId: 0x7d34, payload: reading }),
  hex(`60 45 7d34 ff ${ascii('22.3 C')}`));
// Figure 17: the same with a 1-byte token.
assertVector('Figure 17 request', message({ messageId: 0x7d35, token: hex('20'), options: temperature }),
  hex(`41 01 7d35 20 bb ${ascii('temperature')}`));
assertVector('Figure 17 response', message({ type: MessageType.ACK, code: ResponseCode.Content, messageId: 0x7d35, token: hex('20'), payload: reading }),
  hex(`61 45 7d35 20 ff ${ascii('22.3 C')}`));
// Figure 20: separate response: empty ACK, then a CON 2.05 with a new message ID.
assertVector('Figure 20 empty ACK', emptyMessage(MessageType.ACK, 0x7d38), hex('60 00 7d38'));
assertVector('Figure 20 separate response', message({ code: ResponseCode.Content, messageId: 0xad7b, token: hex('53'), payload: reading }),
  hex(`41 45 ad7b 53 ff ${ascii('22.3 C')}`));
// Figure 21: NON request and NON response.
assertVector('Figure 21 NON request', message({ type: MessageType.NON, messageId: 0x7d40, token: hex('74'), options: temperature }),
  hex(`51 01 7d40 74 bb ${ascii('temperature')}`));

test('extended option delta and length: 13 uses one extra byte, 269 two', () => {
  const long = 'x'.repeat(300);
  const bytes = encode(message({ options: [stringOption(OptionNumber.ProxyUri, long), uintOption(OptionNumber.NoResponse, 26)] }));
  // Proxy-Uri (35): delta 35 -> nibble 13 + (35-13); length 300 -> nibble 14 + (300-269) in two bytes.
  assert.is(bytes.subarray(4, 8).toString('hex'), 'de' + (35 - 13).toString(16).padStart(2, '0') + (300 - 269).toString(16).padStart(4, '0'));
  const decoded = decode(bytes);
  assert.is(decoded.options[0]!.number, OptionNumber.ProxyUri);
  assert.is(decoded.options[0]!.value.toString(), long);
  assert.is(decoded.options[1]!.number, OptionNumber.NoResponse);
});

test('repeated options keep their order and options are sorted by number on encode', () => {
  const options = [stringOption(OptionNumber.UriQuery, 'b=1'), stringOption(OptionNumber.UriPath, 'a'), stringOption(OptionNumber.UriPath, 'b')];
  const decoded = decode(encode(message({ options })));
  assert.equal(decoded.options.map((o) => o.number), [11, 11, 15]);
  assert.equal(getStringOptions(decoded.options, OptionNumber.UriPath), ['a', 'b']);
});

function assertFormatError(name: string, bytes: Buffer, withHeader: boolean): void {
  test(`decode refuses ${name} with a FormatError`, () => {
    try {
      decode(bytes);
      assert.unreachable('decoded');
    } catch (error) {
      assert.instance(error, FormatError);
      assert.is((error as FormatError).code, 'COAP_ERR_FORMAT');
      assert.is((error as FormatError).header !== undefined, withHeader);
    }
  });
}

assertFormatError('a datagram shorter than the header', hex('4001'), false);
assertFormatError('version 2', hex('80 01 0001'), false);
assertFormatError('version 0', hex('00 01 0001'), false);
for (const tokenLength of [9, 12, 15]) {
  assertFormatError(`reserved token length ${tokenLength}`, Buffer.concat([hex(`4${tokenLength.toString(16)} 01 0001`), Buffer.alloc(15)]), true);
}
assertFormatError('a token longer than the datagram', hex('44 01 0001 aabb'), true);
assertFormatError('an empty message with a token', hex('41 00 0001 aa'), true);
assertFormatError('an empty message with bytes after the header', hex('40 00 0001 ff'), true);
assertFormatError('option delta nibble 15 without the marker', hex('40 01 0001 f1 00'), true);
assertFormatError('option length nibble 15', hex('40 01 0001 bf'), true);
assertFormatError('a truncated one-byte extended delta', hex('40 01 0001 d0'), true);
assertFormatError('a truncated two-byte extended delta', hex('40 01 0001 e0 01'), true);
assertFormatError('a truncated two-byte extended length', hex('40 01 0001 0e 01'), true);
assertFormatError('option numbers summing past 65535', hex('40 01 0001 e0 fe f3 e0 ff ff'), true);
assertFormatError('an option value past the datagram', hex('40 01 0001 b4 61 62'), true);
assertFormatError('a payload marker followed by nothing', hex('40 01 0001 ff'), true);

test('a CoAP ping (empty CON) and an RST decode', () => {
  assert.is(decode(hex('40 00 1234')).type, MessageType.CON);
  assert.is(decode(hex('70 00 1234')).type, MessageType.RST);
});

test('encode refuses a token over 8 bytes and out-of-bounds option lengths', () => {
  assert.throws(() => encode(message({ token: Buffer.alloc(9) })), (error: unknown) => error instanceof FormatError);
  assert.throws(() => encode(message({ options: [{ number: OptionNumber.ETag, value: Buffer.alloc(9) }] })), (error: unknown) => error instanceof FormatError);
  assert.throws(() => encode(message({ options: [{ number: OptionNumber.UriHost, value: Buffer.alloc(0) }] })), (error: unknown) => error instanceof FormatError);
  assert.throws(() => encode(message({ options: [{ number: 65536, value: Buffer.alloc(0) }] })), (error: unknown) => error instanceof FormatError);
  assert.throws(() => encode({ ...emptyMessage(MessageType.ACK, 1), payload: Buffer.from('x') }), (error: unknown) => error instanceof FormatError);
});

test.run();
