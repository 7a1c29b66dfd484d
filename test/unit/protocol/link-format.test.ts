import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CoapError } from '../../../src/protocol/errors.js';
import { LinkFormatError, filterLinks, parseLinks, serializeLinks, type Link } from '../../../src/protocol/link-format.js';

function assertLinkFormatError(run: () => unknown): LinkFormatError {
  try {
    run();
  } catch (error) {
    assert.instance(error, LinkFormatError);
    assert.instance(error, CoapError);
    assert.is((error as LinkFormatError).code, 'COAP_ERR_LINK_FORMAT');
    return error as LinkFormatError;
  }
  assert.unreachable('expected a LinkFormatError');
  throw new Error('unreachable');
}

// Examples of RFC 6690 §5, each written as the RFC writes it (without its readability line
// breaks) and as our model holds it.
const rfcExamples: [string, Link[]][] = [
  ['</sensors>;ct=40', [{ target: '/sensors', attributes: [{ name: 'ct', value: '40' }] }]],
  ['</sensors/temp>;if="sensor",</sensors/light>;if="sensor"', [
    { target: '/sensors/temp', attributes: [{ name: 'if', value: 'sensor' }] },
    { target: '/sensors/light', attributes: [{ name: 'if', value: 'sensor' }] },
  ]],
  ['</sensors/temp>;rt="temperature-c";if="sensor",</sensors/light>;rt="light-lux";if="sensor"', [
    { target: '/sensors/temp', attributes: [{ name: 'rt', value: 'temperature-c' }, { name: 'if', value: 'sensor' }] },
    { target: '/sensors/light', attributes: [{ name: 'rt', value: 'light-lux' }, { name: 'if', value: 'sensor' }] },
  ]],
  ['</sensors/light>;rt="light-lux";if="sensor"', [
    { target: '/sensors/light', attributes: [{ name: 'rt', value: 'light-lux' }, { name: 'if', value: 'sensor' }] },
  ]],
  ['</sensors>;ct=40;title="Sensor Index"', [
    { target: '/sensors', attributes: [{ name: 'ct', value: '40' }, { name: 'title', value: 'Sensor Index' }] },
  ]],
  ['<http://www.example.com/sensors/t123>;anchor="/sensors/temp";rel="describedby",</t>;anchor="/sensors/temp";rel="alternate"', [
    { target: 'http://www.example.com/sensors/t123', attributes: [{ name: 'anchor', value: '/sensors/temp' }, { name: 'rel', value: 'describedby' }] },
    { target: '/t', attributes: [{ name: 'anchor', value: '/sensors/temp' }, { name: 'rel', value: 'alternate' }] },
  ]],
  ['</firmware/v2.1>;rt="firmware";sz=262144', [
    { target: '/firmware/v2.1', attributes: [{ name: 'rt', value: 'firmware' }, { name: 'sz', value: '262144' }] },
  ]],
];

for (const [text, links] of rfcExamples) {
  test(`RFC 6690 §5 example parses to its links and serializes back byte for byte: ${text}`, () => {
    assert.equal(parseLinks(text), links);
    assert.is(serializeLinks(links), text);
  });
}

test('RFC 6690 §5 listing with its readability line breaks parses like the one-line form', () => {
  const wrapped = '</sensors>;ct=40;title="Sensor Index",\n   </sensors/temp>;rt="temperature-c";if="sensor",\r\n'
    + '   <http://www.example.com/sensors/t123>;anchor="/sensors/temp"\n   ;rel="describedby"\n';
  assert.equal(parseLinks(wrapped), parseLinks(
    '</sensors>;ct=40;title="Sensor Index",</sensors/temp>;rt="temperature-c";if="sensor",'
    + '<http://www.example.com/sensors/t123>;anchor="/sensors/temp";rel="describedby"'));
});

test('serializes numbers bare, relation types and titles quoted, obs without a value', () => {
  const links: Link[] = [
    { target: '/sensors/temp', attributes: [
      { name: 'rt', value: 'temperature-c' }, { name: 'if', value: 'sensor' }, { name: 'ct', value: '41' }, { name: 'obs' },
    ] },
    { target: '/x', attributes: [{ name: 'sz', value: '1024' }] },
  ];
  assert.is(serializeLinks(links), '</sensors/temp>;rt="temperature-c";if="sensor";ct=41;obs,</x>;sz=1024');
});

test('a ct list (RFC 7252 §7.2.1) is written quoted and read back as one value', () => {
  const links: Link[] = [{ target: '/upload', attributes: [{ name: 'ct', value: '0 40' }] }];
  assert.is(serializeLinks(links), '</upload>;ct="0 40"');
  assert.equal(parseLinks('</upload>;ct="0 40"'), links);
});

test('quotes and backslashes in a value are escaped and unescaped', () => {
  const links: Link[] = [{ target: '/a', attributes: [{ name: 'title', value: 'say "hi" \\ ok' }] }];
  const text = '</a>;title="say \\"hi\\" \\\\ ok"';
  assert.is(serializeLinks(links), text);
  assert.equal(parseLinks(text), links);
});

test('a backslash before an ordinary character in a quoted-string stands for that character', () => {
  assert.equal(parseLinks('</a>;title="\\a\\b"'), [{ target: '/a', attributes: [{ name: 'title', value: 'ab' }] }]);
});

test('commas and semicolons inside quotes do not split links or attributes', () => {
  assert.equal(parseLinks('</a>;title="x, y; z",</b>;foo="<c>;d=e"'), [
    { target: '/a', attributes: [{ name: 'title', value: 'x, y; z' }] },
    { target: '/b', attributes: [{ name: 'foo', value: '<c>;d=e' }] },
  ]);
});

test('values needing quotes are quoted whatever the attribute; an empty value is ""', () => {
  const links: Link[] = [{ target: '/a', attributes: [
    { name: 'foo', value: 'a b' }, { name: 'bar', value: '' }, { name: 'baz', value: 'x,y' }, { name: 'utf', value: 'Grüße' },
  ] }];
  const text = '</a>;foo="a b";bar="";baz="x,y";utf="Grüße"';
  assert.is(serializeLinks(links), text);
  assert.equal(parseLinks(text), links);
});

test('ptoken values keep every ptokenchar, including "<", "=", ">" and "*"', () => {
  assert.equal(parseLinks('</a>;foo=<b>=c*;bar=!#$%&\'()+-./:?@[]^_`{|}~'), [{ target: '/a', attributes: [
    { name: 'foo', value: '<b>=c*' }, { name: 'bar', value: '!#$%&\'()+-./:?@[]^_`{|}~' },
  ] }]);
});

test('attributes without a value and repeated attributes are kept in order', () => {
  const text = '</s>;obs;rt="a";rt="b";obs';
  const links: Link[] = [{ target: '/s', attributes: [{ name: 'obs' }, { name: 'rt', value: 'a' }, { name: 'rt', value: 'b' }, { name: 'obs' }] }];
  assert.equal(parseLinks(text), links);
  assert.is(serializeLinks(links), text);
});

test('an RFC 5987 ext-value attribute such as title* is read and written bare', () => {
  const text = '</a>;title*=UTF-8\'de\'n%c3%a4chstes';
  const links: Link[] = [{ target: '/a', attributes: [{ name: 'title*', value: 'UTF-8\'de\'n%c3%a4chstes' }] }];
  assert.equal(parseLinks(text), links);
  assert.is(serializeLinks(links), text);
});

test('empty or blank input is no links, and no links serialize to the empty string', () => {
  assert.equal(parseLinks(''), []);
  assert.equal(parseLinks(' \r\n\t'), []);
  assert.is(serializeLinks([]), '');
});

test('an empty target and a link without attributes are valid', () => {
  assert.equal(parseLinks('<>,</b>'), [{ target: '', attributes: [] }, { target: '/b', attributes: [] }]);
  assert.is(serializeLinks([{ target: '', attributes: [] }]), '<>');
});

test('whitespace around ",", ";" and "=" and at the ends is tolerated and not written', () => {
  const links = parseLinks('  </a> ; rt = "x" ;\tobs ,\r\n </b>;sz= 12  ');
  assert.equal(links, [
    { target: '/a', attributes: [{ name: 'rt', value: 'x' }, { name: 'obs' }] },
    { target: '/b', attributes: [{ name: 'sz', value: '12' }] },
  ]);
  assert.is(serializeLinks(links), '</a>;rt="x";obs,</b>;sz=12');
});

test('whitespace inside a quoted value is kept', () => {
  assert.equal(parseLinks('</a>;title=" two  words\t"'), [{ target: '/a', attributes: [{ name: 'title', value: ' two  words\t' }] }]);
});

const malformed: [string, string][] = [
  ['text without a link', 'sensors'],
  ['a lone "<"', '<'],
  ['a target without ">"', '</a;ct=40'],
  ['a ";" without an attribute', '</a>;'],
  ['an attribute without a name', '</a>;=x'],
  ['"=" without a value', '</a>;rt='],
  ['"=" followed by ";"', '</a>;rt=;ct=0'],
  ['an unterminated quoted-string', '</a>;rt="x'],
  ['a quoted-string ending in a backslash', '</a>;rt="x\\'],
  ['a trailing comma', '</a>,'],
  ['a leading comma', ',</a>'],
  ['two commas in a row', '</a>,,</b>'],
  ['two links without a comma', '</a></b>'],
  ['text after a quoted value', '</a>;rt="x"y'],
  ['a quote inside a ptoken', '</a>;rt=a"b'],
  ['a non-ASCII ptoken', '</a>;rt=é'],
  ['a backslash in a ptoken', '</a>;rt=a\\b'],
  ['a space inside a target', '</a b>'],
  ['a "<" inside a target', '<<a>'],
  ['a control character inside a target', '</a\u0000>'],
  ['a space inside an attribute name', '</a>;r t=x'],
  ['a space before the "*" of an ext-name', '</a>;title *=x'],
  ['an attribute name that is only "*"', '</a>;*=x'],
  ['a non-parmname character in a name', '</a>;r@t=x'],
];

for (const [what, text] of malformed) {
  test(`malformed input gives LinkFormatError: ${what}`, () => {
    const error = assertLinkFormatError(() => parseLinks(text));
    assert.type(error.offset, 'number');
  });
}

test('LinkFormatError says where parsing stopped', () => {
  const error = assertLinkFormatError(() => parseLinks('</a>;rt="x"y'));
  assert.is(error.offset, 11);
  assert.match(error.message, /at offset 11/);
});

test('a non-string payload gives LinkFormatError, not a TypeError', () => {
  assertLinkFormatError(() => parseLinks(undefined as unknown as string));
  assertLinkFormatError(() => parseLinks(Buffer.from('</a>') as unknown as string));
});

test('serializing a target with ">" or whitespace, or a name that is not a parmname, gives LinkFormatError', () => {
  assertLinkFormatError(() => serializeLinks([{ target: '/a>b', attributes: [] }]));
  assertLinkFormatError(() => serializeLinks([{ target: '/a b', attributes: [] }]));
  assertLinkFormatError(() => serializeLinks([{ target: '/a', attributes: [{ name: '' }] }]));
  assertLinkFormatError(() => serializeLinks([{ target: '/a', attributes: [{ name: 'r t', value: 'x' }] }]));
  assertLinkFormatError(() => serializeLinks([{ target: '/a', attributes: [{ name: 'rt=', value: 'x' }] }]));
});

// The /.well-known/core of RFC 6690 §5, plus links exercising lists and obs.
const wellKnownCore = parseLinks(
  '</sensors>;ct=40;title="Sensor Index",</sensors/temp>;rt="temperature-c";if="sensor";obs,'
  + '</sensors/light>;rt="light-lux";if="sensor",'
  + '<http://www.example.com/sensors/t123>;anchor="/sensors/temp";rel="describedby",'
  + '</t>;anchor="/sensors/temp";rel="alternate",'
  + '</fw>;rt="firmware manifest";ct="0 40 60";obs,</cfg>;rt="config";rt="firmware-config"');
const targets = (query: string[]): string[] => filterLinks(wellKnownCore, query).map((link) => link.target);

test('filter by rt returns the RFC 6690 §5 light sensor only', () => {
  assert.equal(targets(['rt=light-lux']), ['/sensors/light']);
});

test('filter href=/sensors/* is a prefix match on the target', () => {
  assert.equal(targets(['href=/sensors/*']), ['/sensors/temp', '/sensors/light']);
  assert.equal(targets(['href=/sensors*']), ['/sensors', '/sensors/temp', '/sensors/light']);
});

test('filter href without "*" matches the target exactly', () => {
  assert.equal(targets(['href=/sensors']), ['/sensors']);
  assert.equal(targets(['href=/sensors/']), []);
});

test('filter with a trailing "*" on an attribute is a prefix match', () => {
  assert.equal(targets(['rt=temp*']), ['/sensors/temp']);
  assert.equal(targets(['rt=firmware*']), ['/fw', '/cfg']);
  assert.equal(targets(['rt=*']), ['/sensors/temp', '/sensors/light', '/fw', '/cfg']);
});

test('filter matches any one member of a space-separated rt or ct list', () => {
  assert.equal(targets(['rt=manifest']), ['/fw']);
  assert.equal(targets(['rt=mani*']), ['/fw']);
  assert.equal(targets(['ct=40']), ['/sensors', '/fw']);
  assert.equal(targets(['ct=60']), ['/fw']);
  assert.equal(targets(['rt=firmware manifest']), []);
});

test('filter matches any of several attributes with the same name', () => {
  assert.equal(targets(['rt=firmware-config']), ['/cfg']);
  assert.equal(targets(['rt=config']), ['/cfg']);
});

test('filter on a non-list attribute compares the whole value', () => {
  assert.equal(targets(['title=Sensor Index']), ['/sensors']);
  assert.equal(targets(['title=Sensor']), []);
  assert.equal(targets(['title=Sensor*']), ['/sensors']);
});

test('filter by a bare name keeps the links carrying that attribute, such as obs', () => {
  assert.equal(targets(['obs']), ['/sensors/temp', '/fw']);
});

test('several filter parameters must all match', () => {
  assert.equal(targets(['rt=temperature-c', 'if=sensor']), ['/sensors/temp']);
  assert.equal(targets(['if=sensor', 'obs']), ['/sensors/temp']);
  assert.equal(targets(['rt=temperature-c', 'if=actuator']), []);
});

test('filter on an attribute RFC 6690 does not define matches that attribute', () => {
  assert.equal(targets(['anchor=/sensors/temp']), ['http://www.example.com/sensors/t123', '/t']);
  assert.equal(targets(['rel=alternate']), ['/t']);
  assert.equal(targets(['nosuch=x']), []);
});

test('filter names compare case-insensitively, values exactly', () => {
  assert.equal(targets(['RT=light-lux']), ['/sensors/light']);
  assert.equal(targets(['rt=Light-Lux']), []);
});

test('a "*" other than the last character is literal', () => {
  assert.equal(targets(['rt=*lux']), []);
});

test('no filter parameters return every link', () => {
  assert.equal(filterLinks(wellKnownCore, []), wellKnownCore);
});

test.run();
