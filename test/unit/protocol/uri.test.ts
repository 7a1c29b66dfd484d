import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CoapError } from '../../../src/protocol/errors.js';
import { OptionNumber, stringOption, uintOption, type CoapOption } from '../../../src/protocol/options.js';
import {
  UriError, optionsToUri, parseUri, pathFromOptions, proxyTarget, queryFromOptions, uriToOptions, type CoapUri,
} from '../../../src/protocol/uri.js';

const plain = (options: readonly CoapOption[]) => options.map((option) => [option.number, option.value.toString('hex')]);
const path = (...segments: string[]) => segments.map((segment) => stringOption(OptionNumber.UriPath, segment));
const query = (...queryArguments: string[]) => queryArguments.map((argument) => stringOption(OptionNumber.UriQuery, argument));
const host = (name: string) => stringOption(OptionNumber.UriHost, name);
const coap = { scheme: 'coap', host: '192.0.2.1', port: 5683 } as const;

const isUriError = (error: unknown): boolean => error instanceof UriError;

function assertUriError(text: string, pattern: RegExp): void {
  try {
    parseUri(text);
  } catch (error) {
    assert.instance(error, UriError);
    assert.instance(error, CoapError);
    assert.is((error as UriError).code, 'COAP_ERR_URI');
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`${text} parsed`);
}

test('RFC 7252 §6.3: the three equivalent spellings of example.com/~sensors/temp.xml parse alike', () => {
  const expected: CoapUri = { scheme: 'coap', host: 'example.com', port: 5683, path: ['~sensors', 'temp.xml'], query: [] };
  for (const text of [
    'coap://example.com:5683/~sensors/temp.xml',
    'coap://EXAMPLE.com/%7Esensors/temp.xml',
    'coap://EXAMPLE.com:/%7esensors/temp.xml',
  ]) {
    assert.equal(parseUri(text), expected, text);
    assert.equal(plain(uriToOptions(parseUri(text))), plain([host('example.com'), ...path('~sensors', 'temp.xml')]), text);
  }
});

test('RFC 7252 §6.1: an IPv6 literal host loses its brackets and gives no Uri-Host', () => {
  const uri = parseUri('coap://[2001:db8::2:1]/');
  assert.equal(uri, { scheme: 'coap', host: '2001:db8::2:1', port: 5683, path: [], query: [] });
  assert.equal(uriToOptions(uri), []);
});

test('an IPv6 literal with includeHost gives a bracketed Uri-Host; an IPv4 literal an unbracketed one', () => {
  assert.equal(plain(uriToOptions(parseUri('coap://[2001:DB8::1]:61616/x'), { includeHost: true })),
    plain([host('[2001:db8::1]'), uintOption(OptionNumber.UriPort, 61616), ...path('x')]));
  assert.equal(plain(uriToOptions(parseUri('coap://192.0.2.1/x'), { includeHost: true })), plain([host('192.0.2.1'), ...path('x')]));
  assert.equal(plain(uriToOptions(parseUri('coap://192.0.2.1/x'))), plain(path('x')));
});

test('coap://example.net/.well-known/core gives Uri-Host and two Uri-Path options', () => {
  assert.equal(plain(uriToOptions(parseUri('coap://example.net/.well-known/core'))),
    plain([host('example.net'), ...path('.well-known', 'core')]));
});

test('coaps defaults to port 5684; only a port that is not the scheme default gives Uri-Port', () => {
  assert.is(parseUri('coaps://example.net/').port, 5684);
  assert.equal(plain(uriToOptions(parseUri('coaps://192.0.2.1:5684/'))), []);
  assert.equal(plain(uriToOptions(parseUri('coaps://192.0.2.1:5683/'))), plain([uintOption(OptionNumber.UriPort, 5683)]));
  assert.equal(plain(uriToOptions(parseUri('coap://192.0.2.1:5684/'))), plain([uintOption(OptionNumber.UriPort, 5684)]));
});

test('§6.4 step 8: an empty path and "/" both give no Uri-Path, and so does a lone empty segment', () => {
  assert.equal(parseUri('coap://example.net').path, []);
  assert.equal(parseUri('coap://example.net/').path, []);
  assert.equal(parseUri('coap://example.net?q').path, []);
  assert.equal(plain(uriToOptions({ scheme: 'coap', host: '192.0.2.1', port: 5683, path: [''], query: [] })), []);
});

test('empty segments other than a lone "/" are kept as empty Uri-Path options', () => {
  assert.equal(parseUri('coap://h/a/').path, ['a', '']);
  assert.equal(parseUri('coap://h//').path, ['', '']);
  assert.equal(parseUri('coap://h/a//b').path, ['a', '', 'b']);
});

test('path segments are percent-decoded after splitting, so %2F stays inside its segment', () => {
  assert.equal(parseUri('coap://h/a%2Fb/%E2%82%AC%20x/%25').path, ['a/b', '€ x', '%']);
});

test('dot segments are removed as written (RFC 3986 §5.2.4); percent-encoded dots are data', () => {
  assert.equal(parseUri('coap://h/a/./b/../c').path, ['a', 'c']);
  assert.equal(parseUri('coap://h/a/..').path, []);
  assert.equal(parseUri('coap://h/a/.').path, ['a', '']);
  assert.equal(parseUri('coap://h/../../a').path, ['a']);
  assert.equal(parseUri('coap://h/a/%2E%2E/b').path, ['a', '..', 'b']);
});

test('§6.4 step 9: query arguments are split on "&" and decoded; "=" and "+" are left alone', () => {
  assert.equal(parseUri('coap://h/p?a=1&b=x+y&c%26d&%3F/?').query, ['a=1', 'b=x+y', 'c&d', '?/?']);
  assert.equal(parseUri('coap://h/p').query, []);
  // A present but empty query is one empty argument.
  assert.equal(parseUri('coap://h/p?').query, ['']);
  assert.equal(parseUri('coap://h/p?&').query, ['', '']);
});

test('the scheme and reg-name host are case-insensitive; a percent-encoded reg-name is decoded', () => {
  const uri = parseUri('COAPS://Sensor.EXAMPLE.net/');
  assert.is(uri.scheme, 'coaps');
  assert.is(uri.host, 'sensor.example.net');
  assert.is(parseUri('coap://b%C3%BCcher.example/').host, 'bücher.example');
  // §6.4 step 5 lowercases ASCII before decoding, so %41 ("A") survives.
  assert.is(parseUri('coap://%41b/').host, 'Ab');
  assert.equal(plain(uriToOptions(parseUri('coap://%41b/'))), plain([host('Ab')]));
});

test('parseUri refuses relative URIs, other schemes, fragments, userinfo and a missing authority', () => {
  assertUriError('/sensors/temp', /absolute/);
  assertUriError('example.com/sensors', /absolute/);
  assertUriError('http://example.com/', /scheme "http"/);
  assertUriError('coap+tcp://example.com/', /scheme/);
  assertUriError('coap://example.com/a#frag', /fragment/);
  assertUriError('coap://example.com/#', /fragment/);
  assertUriError('coap://user@example.com/', /userinfo/);
  assertUriError('coap:/example.com/', /authority/);
  assertUriError('coap:///path', /empty host/);
});

test('parseUri refuses bad percent-encoding, including triplets that are not UTF-8', () => {
  assertUriError('coap://h/a%2', /percent-encoding/);
  assertUriError('coap://h/a%zz', /percent-encoding/);
  assertUriError('coap://h/%zz/..', /percent-encoding/);
  assertUriError('coap://h/?a%', /percent-encoding/);
  assertUriError('coap://%/', /percent-encoding/);
  assertUriError('coap://h/%FF', /not UTF-8/);
  assertUriError('coap://h/%C3', /not UTF-8/);
});

test('parseUri refuses characters outside the RFC 3986 grammar', () => {
  assertUriError('coap://h/a b', /not allowed in the path/);
  assertUriError('coap://h/ü', /not allowed in the path/);
  assertUriError('coap://h/[x]', /not allowed in the path/);
  assertUriError('coap://h/?a b', /not allowed in the query/);
  assertUriError('coap://ex ample/', /not allowed in the host/);
});

test('parseUri refuses bad ports and bad IP literals', () => {
  assertUriError('coap://h:65536/', /port out of range/);
  assertUriError('coap://h:-1/', /bad port/);
  assertUriError('coap://h:56a/', /bad port/);
  assertUriError('coap://[::1]x/', /after the IP literal/);
  assertUriError('coap://[::1/', /unterminated/);
  assertUriError('coap://[2001:db8::g]/', /bad IPv6 literal/);
  assertUriError('coap://[fe80::1%25eth0]/', /bad IPv6 literal/);
  assertUriError('coap://[v1.fe80::a]/', /IPvFuture/);
  assert.is(parseUri('coap://h:65535/').port, 65535);
  assert.is(parseUri('coap://h:0080/').port, 80);
});

test('uriToOptions refuses an option value longer than its 255-byte bound', () => {
  const uri: CoapUri = { scheme: 'coap', host: '192.0.2.1', port: 5683, path: ['x'.repeat(256)], query: [] };
  assert.throws(() => uriToOptions(uri), (error: unknown) => error instanceof UriError && /out of bounds/.test(error.message));
  assert.is(uriToOptions({ ...uri, path: ['€'.repeat(85)] }).length, 1);
  assert.throws(() => uriToOptions({ ...uri, query: ['€'.repeat(86)] }), isUriError);
});

test('uriToOptions refuses a lone surrogate, which has no UTF-8 form', () => {
  const uri: CoapUri = { scheme: 'coap', host: '192.0.2.1', port: 5683, path: ['a\uD800'], query: [] };
  assert.throws(() => uriToOptions(uri), isUriError);
});

test('RFC 7252 §6.5: options compose to a URI with the target host and port as fallback', () => {
  assert.is(optionsToUri([host('example.net'), ...path('.well-known', 'core')], coap), 'coap://example.net/.well-known/core');
  assert.is(optionsToUri([], coap), 'coap://192.0.2.1/');
  assert.is(optionsToUri([], { scheme: 'coap', host: '2001:DB8::2:1', port: 5683 }), 'coap://[2001:db8::2:1]/');
  assert.is(optionsToUri(path('a'), { scheme: 'coaps', host: '[2001:db8::1]', port: 61616 }), 'coaps://[2001:db8::1]:61616/a');
  assert.is(optionsToUri([uintOption(OptionNumber.UriPort, 5684)], { ...coap, scheme: 'coaps' }), 'coaps://192.0.2.1/');
  assert.is(optionsToUri([host('[2001:db8::1]'), uintOption(OptionNumber.UriPort, 5684)], coap), 'coap://[2001:db8::1]:5684/');
});

test('§6.5 step 6: path characters outside unreserved, sub-delims, ":" and "@" are percent-encoded', () => {
  assert.is(optionsToUri(path('~sensors', 'temp.xml'), coap), 'coap://192.0.2.1/~sensors/temp.xml');
  assert.is(optionsToUri(path("a:b@c!$&'()*+,;=", 'a/b', 'x y', '%', '?#[]', '€'), coap),
    "coap://192.0.2.1/a:b@c!$&'()*+,;=/a%2Fb/x%20y/%25/%3F%23%5B%5D/%E2%82%AC");
});

test('"." and ".." Uri-Path options are written percent-encoded so they are not dot segments', () => {
  const text = optionsToUri(path('a', '.', '..', '...'), coap);
  assert.is(text, 'coap://192.0.2.1/a/%2E/%2E%2E/...');
  assert.equal(parseUri(text).path, ['a', '.', '..', '...']);
});

test('§6.5 step 8: query arguments also keep "/" and "?", but "&" is encoded so the argument stays whole', () => {
  assert.is(optionsToUri([...path('p'), ...query('a=1', 'b/c?d', 'x&y', '', '#')], coap),
    'coap://192.0.2.1/p?a=1&b/c?d&x%26y&&%23');
  assert.is(optionsToUri(query('rt=temp'), coap), 'coap://192.0.2.1/?rt=temp');
});

test('a Uri-Host that is not a valid reg-name is percent-encoded; an empty one is refused', () => {
  assert.is(optionsToUri([host('bücher.example')], coap), 'coap://b%C3%BCcher.example/');
  assert.is(optionsToUri([host('a b:c')], coap), 'coap://a%20b%3Ac/');
  assert.is(optionsToUri([host('[not-ip]')], coap), 'coap://%5Bnot-ip%5D/');
  assert.throws(() => optionsToUri([{ number: OptionNumber.UriHost, value: Buffer.alloc(0) }], coap), isUriError);
});

test('a Uri-Port above 65535 from a malformed option is refused', () => {
  assert.throws(() => optionsToUri([uintOption(OptionNumber.UriPort, 70000)], coap), isUriError);
});

test('Uri-Path bytes that are not UTF-8 are shown percent-encoded, not replaced', () => {
  assert.is(pathFromOptions([{ number: OptionNumber.UriPath, value: Buffer.from([0x61, 0xff]) }]), '/a%FF');
});

test('pathFromOptions gives "/" for no Uri-Path and the encoded path otherwise; queryFromOptions the raw arguments', () => {
  const options = [host('example.net'), ...path('fw', 'a/b', ''), ...query('v=2', 'x&y')];
  assert.is(pathFromOptions([]), '/');
  assert.is(pathFromOptions(options), '/fw/a%2Fb/');
  assert.equal(queryFromOptions(options), ['v=2', 'x&y']);
  assert.equal(queryFromOptions([]), []);
});

test('parseUri(optionsToUri(uriToOptions(u))) gives u back for a URI with every component', () => {
  const uri = parseUri('coaps://Example.NET:61616/fw/%E2%82%AC/a%2Fb/%2E/?x=%26&y=%3F');
  const options = uriToOptions(uri);
  assert.equal(parseUri(optionsToUri(options, { scheme: 'coaps', host: '192.0.2.1', port: 5684 })), uri);
});

test('proxyTarget: the Proxy-Uri wins over the Uri-* options; Proxy-Scheme takes them, the host lowercased and unbracketed (RFC 7252 §5.7.2, §6.5)', () => {
  const withUri = [stringOption(OptionNumber.UriPath, 'ignored'), stringOption(OptionNumber.ProxyUri, 'coaps://Node-1:7000/services/a%20b?unit=x')];
  assert.equal(proxyTarget(withUri), { scheme: 'coaps', host: 'node-1', port: 7000, path: ['services', 'a b'], query: ['unit=x'] });
  const withScheme = [
    stringOption(OptionNumber.ProxyScheme, 'COAP'), stringOption(OptionNumber.UriHost, '[FE80::1]'), uintOption(OptionNumber.UriPort, 5683),
    stringOption(OptionNumber.UriPath, 'logs'), stringOption(OptionNumber.UriQuery, 'lines=5'),
  ];
  assert.equal(proxyTarget(withScheme), { scheme: 'coap', host: 'fe80::1', port: 5683, path: ['logs'], query: ['lines=5'] });
  assert.equal(proxyTarget([stringOption(OptionNumber.ProxyScheme, 'coaps')]), { scheme: 'coaps', host: undefined, port: undefined, path: [], query: [] });
  assert.throws(() => proxyTarget([stringOption(OptionNumber.ProxyUri, 'http://n1/x')]), /unsupported scheme/);
});

test.run();
