// coap:// and coaps:// URIs and the Uri-Host, Uri-Port, Uri-Path and Uri-Query options:
// RFC 7252 §6.1-§6.3 (syntax, default ports, normalisation), §6.4 (URI -> options) and §6.5
// (options -> URI), with RFC 3986 for the generic syntax. Pure: no I/O, no name lookups.

import { isIPv4, isIPv6 } from 'node:net';
import { CoapError } from './errors.js';
import {
  OptionNumber, decodeUint, getOption, getOptions, getStringOption, getStringOptions, hasValidLength, optionName, stringOption,
  uintOption, type CoapOption,
} from './options.js';
import type { ProxyTarget } from './server-types.js';

export type CoapScheme = 'coap' | 'coaps';

export interface CoapUri {
  readonly scheme: CoapScheme;
  /** Lowercase reg-name (percent-decoded), IPv4 address, or IPv6 address without brackets. */
  readonly host: string;
  readonly port: number;
  /** Decoded path segments; none for an empty path or "/". */
  readonly path: readonly string[];
  /** Decoded query arguments, split on "&". */
  readonly query: readonly string[];
}

/** Where a request goes when its options carry no Uri-Host or Uri-Port (§6.5 steps 2, 4). */
export interface UriTarget {
  readonly scheme: CoapScheme;
  readonly host: string;
  readonly port: number;
}

export class UriError extends CoapError {
  constructor(message: string) {
    super('COAP_ERR_URI', message);
  }
}

// §6.1, §6.2.
export const DEFAULT_PORT = { coap: 5683, coaps: 5684 } as const satisfies Record<CoapScheme, number>;

const MAX_PORT = 0xffff;

// Character classes of RFC 3986 §2.2-§2.3 and §3.2.2-§3.4, one character at a time.
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const SUB_DELIMS = /[!$&'()*+,;=]/;
const isUnreserved = (char: string): boolean => UNRESERVED.test(char);
const isSubDelim = (char: string): boolean => SUB_DELIMS.test(char);
const isRegNameChar = (char: string): boolean => isUnreserved(char) || isSubDelim(char);
const isPathChar = (char: string): boolean => isRegNameChar(char) || char === ':' || char === '@';
const isQueryChar = (char: string): boolean => isPathChar(char) || char === '/' || char === '?';
// §6.5 step 8 leaves "&" (a sub-delim) unencoded in a query argument, which would split
// the argument in two when the URI is parsed again; we encode it.
const isQueryArgumentChar = (char: string): boolean => isQueryChar(char) && char !== '&';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function parseUri(text: string): CoapUri {
  // §6.4 steps 1 and 3: an absolute URI, scheme compared in ASCII lowercase.
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  if (schemeMatch === null) throw new UriError(`not an absolute URI: ${JSON.stringify(text)}`);
  const scheme = schemeMatch[1]!.toLowerCase();
  if (scheme !== 'coap' && scheme !== 'coaps') throw new UriError(`unsupported scheme "${scheme}": only coap and coaps`);
  // §6.4 step 4: a fragment fails the algorithm.
  if (text.includes('#')) throw new UriError('a CoAP URI has no fragment');
  const rest = text.slice(schemeMatch[0].length);
  // §6.1: the host is not optional, so the authority is there.
  if (!rest.startsWith('//')) throw new UriError(`${scheme} URI without an authority ("//host")`);

  const authorityLength = rest.slice(2).search(/[/?]/);
  const authorityEnd = authorityLength === -1 ? rest.length : authorityLength + 2;
  const { host, port } = parseAuthority(rest.slice(2, authorityEnd), scheme);
  const queryStart = rest.indexOf('?', authorityEnd);
  const rawPath = rest.slice(authorityEnd, queryStart === -1 ? rest.length : queryStart);
  checkCharacters(rawPath, (char) => isPathChar(char) || char === '/', 'path');

  let query: string[] = [];
  if (queryStart !== -1) {
    const rawQuery = rest.slice(queryStart + 1);
    checkCharacters(rawQuery, isQueryChar, 'query');
    // §6.4 step 9: a present query, even an empty one, is at least one argument.
    query = rawQuery.split('&').map((argument) => percentDecode(argument, 'query'));
  }
  return { scheme, host, port, path: pathSegments(rawPath).map((segment) => percentDecode(segment, 'path')), query };
}

/** The options for a request to `uri` (§6.4 steps 5-9). Uri-Host is added for a reg-name,
 * or for any host with `includeHost` (a request to a proxy or a virtual host); Uri-Port only
 * for a port that is not the scheme's default. */
export function uriToOptions(uri: CoapUri, { includeHost = false }: { includeHost?: boolean } = {}): CoapOption[] {
  if (uri.host === '') throw new UriError('empty host');
  if (uri.host.startsWith('[')) throw new UriError(`IPv6 host given in brackets: ${uri.host}`);
  if (!Number.isInteger(uri.port) || uri.port < 0 || uri.port > MAX_PORT) throw new UriError(`port out of range: ${uri.port}`);
  const options: CoapOption[] = [];
  const isIPv6Host = isIPv6Address(uri.host);
  if (includeHost || !(isIPv4(uri.host) || isIPv6Host)) {
    // §6.4 step 5 takes the <host> component, which brackets an IPv6 literal. A reg-name is
    // already lowercase: parseUri lowercases before decoding, as step 5 does.
    const value = isIPv6Host ? `[${uri.host.toLowerCase()}]` : uri.host;
    options.push(stringOption(OptionNumber.UriHost, value));
  }
  if (uri.port !== DEFAULT_PORT[uri.scheme]) options.push(uintOption(OptionNumber.UriPort, uri.port));
  // §6.4 step 8: a path of just "/" is one empty segment and gives no Uri-Path.
  const path = uri.path.length === 1 && uri.path[0] === '' ? [] : uri.path;
  for (const segment of path) options.push(stringOption(OptionNumber.UriPath, checkUnicode(segment, 'path segment')));
  for (const argument of uri.query) options.push(stringOption(OptionNumber.UriQuery, checkUnicode(argument, 'query argument')));
  for (const option of options) {
    if (!hasValidLength(option)) throw new UriError(`${optionName(option.number)} of ${option.value.length} bytes is out of bounds`);
  }
  return options;
}

/** The URI a request's options name (§6.5), falling back to `target` for the host and port
 * the request is sent to. */
export function optionsToUri(options: readonly CoapOption[], target: UriTarget): string {
  const uriHost = getOption(options, OptionNumber.UriHost);
  if (uriHost !== undefined && uriHost.length === 0) throw new UriError('empty Uri-Host');
  const host = formatHost(uriHost ?? Buffer.from(target.host, 'utf8'));
  const uriPort = getOption(options, OptionNumber.UriPort);
  const port = uriPort === undefined ? target.port : decodeUint(uriPort);
  if (port > MAX_PORT) throw new UriError(`Uri-Port out of range: ${port}`);
  const portText = port === DEFAULT_PORT[target.scheme] ? '' : `:${port}`;
  return `${target.scheme}://${host}${portText}${pathFromOptions(options)}${formatQuery(options)}`;
}

/** The percent-encoded path of a request, "/" when it has no Uri-Path (§6.5 steps 6-7):
 * for routers and logs. Encoded so that a segment holding "/" cannot pose as two. */
export function pathFromOptions(options: readonly CoapOption[]): string {
  const segments = getOptions(options, OptionNumber.UriPath);
  if (segments.length === 0) return '/';
  return segments.map((segment) => `/${encodePathSegment(segment)}`).join('');
}

/** Where a proxy request points (§5.7.2): the Proxy-Uri, which takes precedence over the
 * Uri-* options, or the Proxy-Scheme with them (§6.5, the host undefined when no Uri-Host
 * names one). A UriError for a Proxy-Uri that is not a coap or coaps URI. */
export function proxyTarget(options: readonly CoapOption[]): ProxyTarget {
  const proxyUri = getStringOption(options, OptionNumber.ProxyUri);
  if (proxyUri !== undefined) return parseUri(proxyUri);
  const uriHost = getStringOption(options, OptionNumber.UriHost);
  const uriPort = getOption(options, OptionNumber.UriPort);
  return {
    scheme: asciiLowercase(getStringOption(options, OptionNumber.ProxyScheme) ?? ''),
    // §6.3: the host is case-insensitive; an IPv6 literal may come in brackets.
    host: uriHost === undefined ? undefined : asciiLowercase(uriHost.replace(/^\[(.*)\]$/, '$1')),
    port: uriPort === undefined ? undefined : decodeUint(uriPort),
    path: getStringOptions(options, OptionNumber.UriPath),
    query: getStringOptions(options, OptionNumber.UriQuery),
  };
}

export function queryFromOptions(options: readonly CoapOption[]): string[] {
  return getStringOptions(options, OptionNumber.UriQuery);
}

function parseAuthority(authority: string, scheme: CoapScheme): { host: string; port: number } {
  // §6.1: coap-URI = "coap:" "//" host [ ":" port ] ...; there is no userinfo.
  if (authority.includes('@')) throw new UriError('a CoAP URI has no userinfo');
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) throw new UriError('unterminated IP literal');
    host = parseIpLiteral(authority.slice(1, close));
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new UriError(`unexpected text after the IP literal: ${after}`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = authority.indexOf(':');
    const rawHost = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
    checkCharacters(rawHost, isRegNameChar, 'host');
    // §6.4 step 5: ASCII lowercase first, then decode (§6.3: the host is case-insensitive).
    host = percentDecode(asciiLowercase(rawHost), 'host');
    if (host === '') throw new UriError('empty host');
  }
  // RFC 3986 §3.2.3: an empty port is the default, as in the §6.3 example "EXAMPLE.com:".
  if (portText === undefined || portText === '') return { host, port: DEFAULT_PORT[scheme] };
  if (!/^[0-9]+$/.test(portText)) throw new UriError(`bad port: ${portText}`);
  const port = Number(portText);
  if (port > MAX_PORT) throw new UriError(`port out of range: ${portText}`);
  return { host, port };
}

function parseIpLiteral(literal: string): string {
  if (/^v/i.test(literal)) throw new UriError(`unsupported IPvFuture literal: [${literal}]`);
  if (!isIPv6Address(literal)) throw new UriError(`bad IPv6 literal: [${literal}]`);
  return literal.toLowerCase();
}

/** The raw segments of a path-abempty with dot segments removed (RFC 3986 §5.2.4, which
 * §6.4 step 2 applies). Only literal "." and ".." are dot segments: the removal runs before
 * percent-decoding, so "%2E%2E" is a segment named "..". */
function pathSegments(rawPath: string): string[] {
  if (rawPath === '') return [];
  const input = rawPath.slice(1).split('/');
  const output: string[] = [];
  input.forEach((segment, index) => {
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop();
      // A trailing dot segment leaves the path ending in "/": "/a/." is "/a/".
      if (index === input.length - 1) output.push('');
    } else {
      output.push(segment);
    }
  });
  // §6.4 step 8: "/" gives no Uri-Path.
  return output.length === 1 && output[0] === '' ? [] : output;
}

/** Decodes a component that `checkCharacters` has passed: ASCII with valid triplets. */
function percentDecode(text: string, component: string): string {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  try {
    // Uri-Host, Uri-Path and Uri-Query are strings, which are UTF-8 (RFC 7252 §3.2).
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new UriError(`percent-encoding in the ${component} is not UTF-8: ${text}`);
  }
}

function percentEncode(bytes: Uint8Array, isAllowed: (char: string) => boolean): string {
  let text = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    // RFC 3986 §2.1: uppercase hexadecimal digits.
    text += byte < 0x80 && isAllowed(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return text;
}

function encodePathSegment(segment: Buffer): string {
  // A "." or ".." Uri-Path written as is would be removed as a dot segment when the URI is
  // parsed again (RFC 3986 §5.2.4), so such a segment is written percent-encoded.
  const text = segment.toString('latin1');
  if (text === '.' || text === '..') return text.replaceAll('.', '%2E');
  return percentEncode(segment, isPathChar);
}

function formatQuery(options: readonly CoapOption[]): string {
  const queryArguments = getOptions(options, OptionNumber.UriQuery);
  if (queryArguments.length === 0) return '';
  return `?${queryArguments.map((argument) => percentEncode(argument, isQueryArgumentChar)).join('&')}`;
}

/** The <host> for a Uri-Host value or a target host: IP literals as they are (IPv6 in
 * brackets), anything else as a reg-name. §6.5 step 2 percent-encodes non-ASCII and fails
 * on other characters a reg-name cannot hold; we percent-encode those too (RFC 3986 §3.2.2
 * allows pct-encoded in a reg-name), so every Uri-Host has a URI. */
function formatHost(value: Buffer): string {
  const text = value.toString('utf8');
  if (isIPv4(text)) return text;
  if (isIPv6Address(text)) return `[${text.toLowerCase()}]`;
  const literal = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : '';
  if (isIPv6Address(literal)) return `[${literal.toLowerCase()}]`;
  return percentEncode(value, isRegNameChar);
}

/** Checks a raw component: allowed characters, and "%" only as the start of a triplet
 * (RFC 3986 §2.1), so that even a segment a dot segment removes is well-formed. */
function checkCharacters(text: string, isAllowed: (char: string) => boolean, component: string): void {
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '%') {
      if (!/^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) throw new UriError(`bad percent-encoding in the ${component}: ${text}`);
      i += 2;
    } else if (!isAllowed(char)) {
      throw new UriError(`character ${JSON.stringify(char)} not allowed in the ${component}`);
    }
  }
}

function checkUnicode(text: string, what: string): string {
  // A lone surrogate has no UTF-8 form; Buffer.from would quietly make it U+FFFD.
  if (LONE_SURROGATE.test(text)) throw new UriError(`${what} is not well-formed Unicode`);
  return text;
}

// Zone identifiers (RFC 6874) are not supported; isIPv6 would accept one unencoded.
const isIPv6Address = (text: string): boolean => isIPv6(text) && !text.includes('%');

const asciiLowercase = (text: string): string => text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
