// The CoRE Link Format (RFC 6690, application/link-format, Content-Format 40): the link
// model, serializing and parsing (§2, with the `ct` list of RFC 7252 §7.2.1), and the query
// filter of /.well-known/core (§4.1). Pure: no I/O.

import { CoapError } from './errors.js';

/** One target attribute (RFC 6690 §3). `value` is absent for a bare parameter such as `obs`
 * (RFC 7641 §6) and is the unescaped text otherwise. Whether it goes on the wire as a ptoken
 * or a quoted-string is the serializer's choice: both spell the same value (RFC 6690 §2). */
export interface LinkAttribute {
  readonly name: string;
  readonly value?: string;
}

export interface Link {
  /** The URI-Reference between `<` and `>`, as written; not resolved against any base. */
  readonly target: string;
  /** In document order; a name may repeat (several `rt`). */
  readonly attributes: readonly LinkAttribute[];
}

/** Thrown by `parseLinks` on text that is not link-format, and by `serializeLinks` on a link
 * that cannot be written as link-format. The only error this module throws. */
export class LinkFormatError extends CoapError {
  /** Where in the parsed text the problem was found; undefined when serializing. */
  readonly offset: number | undefined;
  constructor(message: string, offset?: number) {
    super('COAP_ERR_LINK_FORMAT', offset === undefined ? message : `${message} at offset ${offset}`);
    this.offset = offset;
  }
}

// RFC 5987 §3.2.1 attr-char, the charset of parmname; a name may end in the `*` of an
// ext-name-star (RFC 6690 §2), e.g. `title*`.
const ATTR_CHARS = 'A-Za-z0-9!#$&+\\-.^_`|~';
const PARMNAME = new RegExp(`^[${ATTR_CHARS}]+\\*?$`);
// RFC 6690 §2 ptokenchar: printable ASCII except SP, DQUOTE, ",", ";" and "\".
const PTOKEN_CHARS = '\\x21\\x23-\\x2b\\x2d-\\x3a\\x3c-\\x5b\\x5d-\\x7e';
const PTOKEN = new RegExp(`^[${PTOKEN_CHARS}]+$`);
// Sticky runs for the reader: each consumes as much as it can from where the reader stands.
const ATTR_CHAR_RUN = new RegExp(`[${ATTR_CHARS}]*`, 'y');
const PTOKEN_RUN = new RegExp(`[${PTOKEN_CHARS}]*`, 'y');
const QUOTED_TEXT_RUN = /[^"\\]*/y;
const WHITESPACE_RUN = /[ \t\r\n]*/y;
// Characters RFC 3986 §2 never allows in a URI-Reference and that would make the `<...>`
// delimitation or our whitespace tolerance ambiguous.
const NOT_IN_TARGET = /[<>\s\p{Cc}]/u;

// anchor and title are quoted-string only (RFC 6690 §2). rel, rev, rt and if are
// relation-types, which must be quoted as soon as they hold a list; quoting them always keeps
// one spelling whatever they hold, as every §5 example does.
const ALWAYS_QUOTED: ReadonlySet<string> = new Set(['anchor', 'title', 'rel', 'rev', 'rt', 'if']);
// Attributes holding space-separated lists: relation-types (RFC 6690 §2, §3.1, §3.2) and
// `ct` (RFC 7252 §7.2.1). A filter matches any one member (RFC 6690 §4.1).
const LIST_ATTRIBUTES: ReadonlySet<string> = new Set(['rel', 'rev', 'rt', 'if', 'ct']);

/** Writes links as link-format (RFC 6690 §2), without whitespace: `</s>;rt="a b";ct=40;obs`.
 * Values that are ptokens are written bare (`ct=40`, `sz=1024`) unless the attribute is one
 * that is always quoted; any other value is a quoted-string with `"` and `\` escaped. */
export function serializeLinks(links: readonly Link[]): string {
  return links.map(serializeLink).join(',');
}

function serializeLink(link: Link): string {
  if (NOT_IN_TARGET.test(link.target)) {
    throw new LinkFormatError(`target ${JSON.stringify(link.target)} is not a URI-Reference`);
  }
  return `<${link.target}>${link.attributes.map((attribute) => `;${serializeAttribute(attribute)}`).join('')}`;
}

function serializeAttribute({ name, value }: LinkAttribute): string {
  if (!PARMNAME.test(name)) throw new LinkFormatError(`attribute name ${JSON.stringify(name)} is not a parmname`);
  if (value === undefined) return name;
  const bare = PTOKEN.test(value) && !ALWAYS_QUOTED.has(name.toLowerCase());
  return `${name}=${bare ? value : `"${value.replace(/["\\]/g, '\\$&')}"`}`;
}

/** Reads link-format (RFC 6690 §2); empty or blank text is no links. Throws only
 * `LinkFormatError`. Whitespace (SP, HTAB, CR, LF) is accepted around `,`, `;` and `=` and at
 * either end: the §2 ABNF has none, but the RFC's own examples wrap lines and HTTP Link
 * headers (RFC 8288 §3) allow it; quoted-strings keep theirs. */
export function parseLinks(text: string): Link[] {
  if (typeof text !== 'string') throw new LinkFormatError('link-format must be a string');
  return new LinkReader(text).readLinks();
}

/** A cursor over the text. Every step either consumes a character or throws, so parsing is
 * linear and always ends. */
class LinkReader {
  readonly #text: string;
  #offset = 0;

  constructor(text: string) {
    this.#text = text;
  }

  readLinks(): Link[] {
    const links: Link[] = [];
    this.#skipWhitespace();
    if (this.#atEnd()) return links;
    for (;;) {
      links.push(this.#readLink());
      this.#skipWhitespace();
      if (this.#atEnd()) return links;
      this.#expect(',');
      this.#skipWhitespace();
    }
  }

  #readLink(): Link {
    this.#expect('<');
    const start = this.#offset;
    const end = this.#text.indexOf('>', start);
    if (end < 0) throw this.#error('target has no closing ">"');
    const target = this.#text.slice(start, end);
    const bad = NOT_IN_TARGET.exec(target);
    if (bad) throw new LinkFormatError(`character ${JSON.stringify(bad[0])} not allowed in a target`, start + bad.index);
    this.#offset = end + 1;
    const attributes: LinkAttribute[] = [];
    for (;;) {
      this.#skipWhitespace();
      if (this.#peek() !== ';') return { target, attributes };
      this.#offset++;
      this.#skipWhitespace();
      attributes.push(this.#readAttribute());
    }
  }

  #readAttribute(): LinkAttribute {
    const start = this.#offset;
    if (this.#take(ATTR_CHAR_RUN) === '') throw this.#error('expected an attribute name');
    if (this.#peek() === '*') this.#offset++;
    const name = this.#text.slice(start, this.#offset);
    this.#skipWhitespace();
    if (this.#peek() !== '=') return { name };
    this.#offset++;
    this.#skipWhitespace();
    return { name, value: this.#peek() === '"' ? this.#readQuoted() : this.#readPtoken() };
  }

  // RFC 2616 §2.2 quoted-string: a backslash takes the next character literally.
  #readQuoted(): string {
    const start = this.#offset;
    this.#offset++;
    let value = '';
    for (;;) {
      value += this.#take(QUOTED_TEXT_RUN);
      const char = this.#text[this.#offset++];
      if (char === '"') return value;
      // Otherwise a backslash, or the end of the text.
      const escaped = char === undefined ? undefined : this.#text[this.#offset++];
      if (escaped === undefined) throw new LinkFormatError('unterminated quoted-string', start);
      value += escaped;
    }
  }

  #readPtoken(): string {
    const value = this.#take(PTOKEN_RUN);
    if (value === '') throw this.#error('expected a ptoken or quoted-string value');
    return value;
  }

  #expect(char: string): void {
    if (this.#peek() !== char) throw this.#error(`expected "${char}"`);
    this.#offset++;
  }

  #skipWhitespace(): void {
    this.#take(WHITESPACE_RUN);
  }

  /** Consumes the run `pattern` (a sticky regex matching possibly nothing) finds here. */
  #take(pattern: RegExp): string {
    pattern.lastIndex = this.#offset;
    const run = pattern.exec(this.#text)?.[0] ?? '';
    this.#offset += run.length;
    return run;
  }

  #peek(): string {
    return this.#text.charAt(this.#offset);
  }

  #atEnd(): boolean {
    return this.#offset >= this.#text.length;
  }

  #error(message: string): LinkFormatError {
    const found = this.#atEnd() ? 'end of input' : JSON.stringify(this.#peek());
    return new LinkFormatError(`${message}, found ${found}`, this.#offset);
  }
}

interface QueryFilter {
  readonly name: string;
  /** Undefined for a bare parameter (`obs`): the attribute only has to be present. */
  readonly pattern: string | undefined;
  readonly prefix: boolean;
}

/** The links matching a /.well-known/core query (RFC 6690 §4.1), given as the Uri-Query
 * values: `rt=temperature-c`, `href=/sensors/*`, `ct=40`, `obs`.
 * - `href` matches the target; any other name matches that attribute, known or not.
 * - A pattern ending in `*` is a prefix match, otherwise the match is exact.
 * - rel, rev, rt, if and ct hold space-separated lists; one matching member is enough.
 * - A bare name matches links that carry that attribute, with or without a value.
 * - §4.1 defines one parameter; with several, a link must match all of them, as aiocoap
 *   does (libcoap filters on a single parameter).
 * Names compare case-insensitively, as ABNF literals do (RFC 5234 §2.3); values exactly. */
export function filterLinks(links: readonly Link[], query: readonly string[]): Link[] {
  const filters = query.map(parseQueryFilter);
  return links.filter((link) => filters.every((filter) => linkMatches(link, filter)));
}

function parseQueryFilter(parameter: string): QueryFilter {
  const equals = parameter.indexOf('=');
  if (equals < 0) return { name: parameter.toLowerCase(), pattern: undefined, prefix: false };
  const name = parameter.slice(0, equals).toLowerCase();
  const pattern = parameter.slice(equals + 1);
  const prefix = pattern.endsWith('*');
  return { name, pattern: prefix ? pattern.slice(0, -1) : pattern, prefix };
}

function linkMatches(link: Link, filter: QueryFilter): boolean {
  if (filter.name === 'href') return valueMatches(link.target, filter);
  return link.attributes.some((attribute) =>
    attribute.name.toLowerCase() === filter.name && attributeValues(attribute).some((value) => valueMatches(value, filter)));
}

function attributeValues({ name, value }: LinkAttribute): string[] {
  if (value === undefined) return [''];
  return LIST_ATTRIBUTES.has(name.toLowerCase()) ? value.trim().split(/\s+/) : [value];
}

function valueMatches(value: string, filter: QueryFilter): boolean {
  if (filter.pattern === undefined) return true;
  return filter.prefix ? value.startsWith(filter.pattern) : value === filter.pattern;
}
