// CoAP Content-Formats (RFC 7252 §12.3 and the IANA registry): the numbers carried in
// Content-Format and Accept, and their media types.

export const ContentFormat = {
  TextPlain: 0,
  LinkFormat: 40,
  Xml: 41,
  OctetStream: 42,
  Exi: 47,
  Json: 50,
  Cbor: 60,
  Cwt: 61,
  SenmlJson: 110,
  SenmlCbor: 112,
  CoapGroupJson: 256,
  /** EST over CoAP (RFC 9148 §5): a PKCS#10 request in, a DER certificate out. */
  Pkcs10: 286,
  PkixCert: 287,
  JsonDeflate: 11050,
  CborDeflate: 11060,
} as const;

const MEDIA_TYPES: ReadonlyMap<number, string> = new Map([
  [0, 'text/plain;charset=utf-8'],
  [40, 'application/link-format'],
  [41, 'application/xml'],
  [42, 'application/octet-stream'],
  [47, 'application/exi'],
  [50, 'application/json'],
  [60, 'application/cbor'],
  [61, 'application/cwt'],
  [110, 'application/senml+json'],
  [112, 'application/senml+cbor'],
  [256, 'application/coap-group+json'],
  [286, 'application/pkcs10'],
  [287, 'application/pkix-cert'],
  [11050, 'application/json;content-coding=deflate'],
  [11060, 'application/cbor;content-coding=deflate'],
]);

const BY_MEDIA_TYPE: ReadonlyMap<string, number> = new Map(
  [...MEDIA_TYPES].map(([format, mediaType]) => [mediaType, format]),
);

/** The media type of a Content-Format number, or undefined when unregistered here. */
export const mediaTypeOf = (format: number): string | undefined => MEDIA_TYPES.get(format);

/** A Content-Format from a number ("50"), a media type ("application/json") or a short
 * name ("json", "cbor", "text", "link", "octet"); undefined when none matches. */
export function parseContentFormat(text: string): number | undefined {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    return value <= 0xffff ? value : undefined;
  }
  const lower = text.toLowerCase();
  const short: Record<string, number> = { text: 0, link: 40, xml: 41, octet: 42, json: 50, cbor: 60 };
  return short[lower] ?? BY_MEDIA_TYPE.get(lower) ?? (lower === 'text/plain' ? 0 : undefined);
}
