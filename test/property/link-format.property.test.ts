import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { LinkFormatError, filterLinks, parseLinks, serializeLinks, type Link, type LinkAttribute } from '../../src/protocol/link-format.js';

const BOUND = { numRuns: 300, interruptAfterTimeLimit: 5000 };

// RFC 5987 §3.2.1 attr-char, the charset of parmname.
const attrChar = fc.constantFrom(...'ABCXYZabcdrtxyz0189!#$&+-.^_`|~');
const name = fc.tuple(fc.string({ unit: attrChar, minLength: 1, maxLength: 8 }), fc.boolean())
  .map(([parmname, star]) => (star ? `${parmname}*` : parmname));
const knownName = fc.constantFrom('rt', 'if', 'ct', 'sz', 'title', 'anchor', 'rel', 'obs', 'hreflang');
// Printable ASCII (the default unit) and any Unicode grapheme, plus the characters that matter
// to the syntax, so quoting and escaping are exercised often.
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.constantFrom('"', '\\', ',', ';', '=', ' ', '<', '>', 'a', '0', '*') }),
);
const attribute: fc.Arbitrary<LinkAttribute> = fc.tuple(fc.oneof(name, knownName), fc.option(value, { nil: undefined }))
  .map(([attributeName, attributeValue]) => (attributeValue === undefined ? { name: attributeName } : { name: attributeName, value: attributeValue }));
// URI references (RFC 3986 §4.1): absolute URLs and relative paths; none contains ">".
const target = fc.oneof(fc.webPath(), fc.webUrl({ withQueryParameters: true, withFragments: true }));
// Built with map, not fc.record, whose null-prototype objects deep-equal nothing we parse.
const link: fc.Arbitrary<Link> = fc.tuple(target, fc.array(attribute, { maxLength: 5 }))
  .map(([linkTarget, attributes]) => ({ target: linkTarget, attributes }));
const links = fc.array(link, { maxLength: 5 });

function parsesOrLinkFormatError(text: string): void {
  try {
    const parsed = parseLinks(text);
    assert.ok(Array.isArray(parsed));
  } catch (error) {
    if (!(error instanceof LinkFormatError)) throw error;
  }
}

test('parseLinks(serializeLinks(links)) gives back the same links', () => {
  fc.assert(fc.property(links, (original) => {
    assert.equal(parseLinks(serializeLinks(original)), original);
  }), BOUND);
});

test('serializing parsed links reproduces the serialized text (one canonical spelling)', () => {
  fc.assert(fc.property(links, (original) => {
    const text = serializeLinks(original);
    assert.is(serializeLinks(parseLinks(text)), text);
  }), BOUND);
});

test('arbitrary strings give links or LinkFormatError, nothing else', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), parsesOrLinkFormatError), BOUND);
});

test('strings over the link-format alphabet give links or LinkFormatError, nothing else', () => {
  const syntax = fc.constantFrom('<', '>', '/', ';', ',', '=', '"', '\\', ' ', '\n', '*', 'a', 'rt', '0', 'é');
  fc.assert(fc.property(fc.string({ unit: syntax, maxLength: 60 }), parsesOrLinkFormatError), BOUND);
});

test('valid link-format with one character inserted or removed gives links or LinkFormatError', () => {
  const edit = fc.tuple(links, fc.nat(), fc.boolean(), fc.constantFrom('"', '\\', ',', ';', '<', '>', '=', ' ', '\u0000'));
  fc.assert(fc.property(edit, ([original, position, insert, char]) => {
    const text = serializeLinks(original);
    const at = text.length === 0 ? 0 : position % text.length;
    parsesOrLinkFormatError(insert ? text.slice(0, at) + char + text.slice(at) : text.slice(0, at) + text.slice(at + 1));
  }), BOUND);
});

test('every link matches a filter naming one of its attributes and values, and filters only ever drop links', () => {
  const withAttribute = fc.tuple(links, link, fc.nat()).filter(([, chosen]) => chosen.attributes.length > 0);
  fc.assert(fc.property(withAttribute, ([others, chosen, index]) => {
    const { name: attributeName, value: attributeValue } = chosen.attributes[index % chosen.attributes.length];
    const isList = ['rel', 'rev', 'rt', 'if', 'ct'].includes(attributeName.toLowerCase());
    const member = attributeValue === undefined ? undefined : isList ? attributeValue.trim().split(/\s+/)[0] : attributeValue;
    const query = [member === undefined ? attributeName : `${attributeName}=${member}`];
    const all = [...others, chosen];
    const kept = filterLinks(all, query);
    assert.ok(kept.includes(chosen));
    assert.ok(kept.every((each) => all.includes(each)));
    assert.equal(filterLinks(all, ['href=*']), all);
  }), BOUND);
});

test.run();
