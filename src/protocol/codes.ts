// Method and response codes: RFC 7252 §5.8, §5.9, §12.1; RFC 7959 §2.9 (2.31, 4.08, 4.13);
// RFC 8132 §2.3 (FETCH, PATCH, iPATCH, 4.09, 4.22); RFC 8516 (4.29); RFC 8768 §4 (5.08).
// A code is one byte: class in the top 3 bits, detail in the low 5 (RFC 7252 §3), written
// "c.dd".

export const makeCode = (codeClass: number, detail: number): number => (codeClass << 5) | detail;

export const Method = {
  GET: makeCode(0, 1),
  POST: makeCode(0, 2),
  PUT: makeCode(0, 3),
  DELETE: makeCode(0, 4),
  FETCH: makeCode(0, 5),
  PATCH: makeCode(0, 6),
  iPATCH: makeCode(0, 7),
} as const;

export const ResponseCode = {
  Created: makeCode(2, 1),
  Deleted: makeCode(2, 2),
  Valid: makeCode(2, 3),
  Changed: makeCode(2, 4),
  Content: makeCode(2, 5),
  Continue: makeCode(2, 31),
  BadRequest: makeCode(4, 0),
  Unauthorized: makeCode(4, 1),
  BadOption: makeCode(4, 2),
  Forbidden: makeCode(4, 3),
  NotFound: makeCode(4, 4),
  MethodNotAllowed: makeCode(4, 5),
  NotAcceptable: makeCode(4, 6),
  RequestEntityIncomplete: makeCode(4, 8),
  Conflict: makeCode(4, 9),
  PreconditionFailed: makeCode(4, 12),
  RequestEntityTooLarge: makeCode(4, 13),
  UnsupportedContentFormat: makeCode(4, 15),
  UnprocessableEntity: makeCode(4, 22),
  TooManyRequests: makeCode(4, 29),
  InternalServerError: makeCode(5, 0),
  NotImplemented: makeCode(5, 1),
  BadGateway: makeCode(5, 2),
  ServiceUnavailable: makeCode(5, 3),
  GatewayTimeout: makeCode(5, 4),
  ProxyingNotSupported: makeCode(5, 5),
  HopLimitReached: makeCode(5, 8),
} as const;

export const EMPTY_CODE = 0;

const NAMES = new Map<number, string>([
  ...Object.entries(Method).map(([name, code]) => [code, name] as [number, string]),
  ...Object.entries(ResponseCode).map(([name, code]) => [code, name.replace(/([a-z])([A-Z])/g, '$1 $2')] as [number, string]),
]);

export const codeClass = (code: number): number => code >> 5;
export const codeDetail = (code: number): number => code & 0x1f;
export const isRequestCode = (code: number): boolean => codeClass(code) === 0 && code !== EMPTY_CODE;
export const isResponseCode = (code: number): boolean => codeClass(code) >= 2 && codeClass(code) <= 5;
export const isSuccessCode = (code: number): boolean => codeClass(code) === 2;

/** "2.05", the dotted form used by the RFCs and by libcoap's output. */
export function formatCode(code: number): string {
  return `${codeClass(code)}.${String(codeDetail(code)).padStart(2, '0')}`;
}

/** "2.05 Content", or the dotted form alone for an unregistered code. */
export function describeCode(code: number): string {
  const name = NAMES.get(code);
  return name === undefined ? formatCode(code) : `${formatCode(code)} ${name}`;
}

/** The code of a method name ("GET") or a dotted code ("4.04"); undefined if neither. */
export function parseCode(text: string): number | undefined {
  const upper = text.toUpperCase();
  for (const [name, code] of Object.entries(Method)) if (name.toUpperCase() === upper) return code;
  const match = /^([0-7])\.([0-3][0-9])$/.exec(text);
  if (match === null) return undefined;
  const detail = Number(match[2]);
  return detail > 31 ? undefined : makeCode(Number(match[1]), detail);
}
