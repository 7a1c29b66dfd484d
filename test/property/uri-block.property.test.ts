import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  MAX_BLOCK_NUMBER, MAX_SIZE_EXPONENT, blockOffset, blockOption, decodeBlock, encodeBlock, readBlockOption, rescale, type BlockValue,
} from '../../src/protocol/block.js';
import { OBSERVE_SEQUENCE_MODULUS, isNewer } from '../../src/protocol/observe-sequence.js';
import { OptionNumber } from '../../src/protocol/options.js';
import { optionsToUri, parseUri, uriToOptions, type CoapScheme, type CoapUri } from '../../src/protocol/uri.js';

const BOUNDS = { numRuns: 300, interruptAfterTimeLimit: 5000 };

// Characters with a meaning somewhere in a URI, so that encoding each one is exercised.
const RESERVED = [...':/?#[]@!$&\'()*+,;=%. ~-_'];
const reservedText = fc.string({ unit: fc.constantFrom(...RESERVED), maxLength: 6 });
const component = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  reservedText,
  fc.constantFrom('', '.', '..', '%2E', '%', '\uFEFF'),
);
const label = fc.stringMatching(/^[a-z0-9-]{1,10}$/);
const regName = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.')),
  fc.constantFrom('bücher.example', 'Sensor.EXAMPLE.net', 'ドメイン.テスト', 'a!$&\'()*+,;=b'),
);
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
const ipv6 = fc.constantFrom('2001:db8::2:1', '::1', 'fe80::1', '2001:DB8:0:0:8:800:200C:417A', '::ffff:192.0.2.1');

const coapUri: fc.Arbitrary<CoapUri> = fc.record({
  scheme: fc.constantFrom<CoapScheme>('coap', 'coaps'),
  host: fc.oneof(regName, ipv4, ipv6),
  port: fc.oneof(fc.constantFrom(5683, 5684), fc.integer({ min: 0, max: 0xffff })),
  path: fc.array(component, { maxLength: 6 }),
  query: fc.array(component, { maxLength: 4 }),
});

// What parsing gives back: ASCII in the host in lowercase (RFC 7252 §6.3), and a lone empty
// segment, which is the path "/", as no segment at all (§6.4 step 8).
const normalised = (uri: CoapUri): CoapUri => ({
  ...uri,
  host: uri.host.replace(/[A-Z]/g, (letter) => letter.toLowerCase()),
  path: uri.path.length === 1 && uri.path[0] === '' ? [] : uri.path,
});

test('parseUri(optionsToUri(uriToOptions(u))) equals u for arbitrary hosts, ports, segments and query arguments', () => {
  fc.assert(fc.property(coapUri, fc.boolean(), (uri, includeHost) => {
    const options = uriToOptions(uri, { includeHost });
    const text = optionsToUri(options, { scheme: uri.scheme, host: uri.host, port: uri.port });
    assert.equal(parseUri(text), normalised(uri), text);
  }), BOUNDS);
});

test('the options of a parsed URI compose to a URI with the same options', () => {
  fc.assert(fc.property(coapUri.map(normalised), (uri) => {
    const target = { scheme: uri.scheme, host: '192.0.2.1', port: uri.port };
    const options = uriToOptions(uri);
    const again = uriToOptions(parseUri(optionsToUri(options, target)));
    assert.equal(again.map((o) => [o.number, o.value.toString('hex')]), options.map((o) => [o.number, o.value.toString('hex')]));
  }), BOUNDS);
});

const blockValue: fc.Arbitrary<BlockValue> = fc.record({
  num: fc.integer({ min: 0, max: MAX_BLOCK_NUMBER }),
  moreBlocks: fc.boolean(),
  sizeExponent: fc.integer({ min: 0, max: MAX_SIZE_EXPONENT }),
// fc.record makes null-prototype objects; uvu's deep equality compares prototypes too.
}).map((value) => ({ ...value }));

test('decodeBlock(encodeBlock(v)) equals v for every valid block value, also through the option bytes', () => {
  fc.assert(fc.property(blockValue, (value) => {
    assert.equal(decodeBlock(encodeBlock(value)), value);
    assert.equal(readBlockOption([blockOption(OptionNumber.Block2, value)], OptionNumber.Block2), value);
  }), BOUNDS);
});

// A block, and a smaller size at which its offset is still a 20-bit block number.
const rescalable = fc.integer({ min: 0, max: MAX_SIZE_EXPONENT }).chain((sizeExponent) =>
  fc.integer({ min: 0, max: sizeExponent }).chain((smaller) => fc.tuple(
    fc.record({
      num: fc.integer({ min: 0, max: Math.floor(MAX_BLOCK_NUMBER / 2 ** (sizeExponent - smaller)) }),
      moreBlocks: fc.boolean(),
      sizeExponent: fc.constant(sizeExponent),
    }).map((value): BlockValue => ({ ...value })),
    fc.constant(smaller),
  )));

test('rescaling to a smaller block size keeps the byte offset and can be undone', () => {
  fc.assert(fc.property(rescalable, ([value, smaller]) => {
    const rescaled = rescale(value, smaller);
    assert.is(rescaled.sizeExponent, smaller);
    assert.is(blockOffset(rescaled), blockOffset(value));
    assert.equal(rescale(rescaled, value.sizeExponent), value);
  }), BOUNDS);
});

const sequence = fc.integer({ min: 0, max: OBSERVE_SEQUENCE_MODULUS - 1 });

test('freshness is antisymmetric for distinct sequence numbers not 2^23 apart, at the same time', () => {
  fc.assert(fc.property(sequence, sequence, fc.integer({ min: 0, max: 2 ** 40 }), (first, second, time) => {
    const distance = (second - first + OBSERVE_SEQUENCE_MODULUS) % OBSERVE_SEQUENCE_MODULUS;
    fc.pre(distance !== 0 && distance !== 2 ** 23);
    assert.is.not(isNewer(first, time, second, time), isNewer(second, time, first, time));
    // The one ahead by less than 2^23, modulo 2^24, is the newer.
    assert.is(isNewer(first, time, second, time), distance < 2 ** 23);
  }), BOUNDS);
});

test('freshness holds for any sequence numbers more than 128 seconds later', () => {
  fc.assert(fc.property(sequence, sequence, fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 128_001, max: 2 ** 30 }),
    (first, second, time, later) => {
      assert.ok(isNewer(first, time, second, time + later));
    }), BOUNDS);
});

test.run();
