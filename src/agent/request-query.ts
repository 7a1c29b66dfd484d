// The Uri-Query arguments of the agent's read resources (RFC 7252 §6.5: one `name=value`
// per option): known names only, each at most once, and a 4.00 with a diagnostic naming
// the first bad one, so a typo is never taken for "no filter".

import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';

export const badQuery = (problem: string): ResponseError =>
  new ResponseError(ResponseCode.BadRequest, `bad query: ${problem}`, { diagnostic: problem });

/** The arguments by name; throws 4.00 on an unknown, repeated or value-less one. */
export function readQuery(query: readonly string[], known: readonly string[]): ReadonlyMap<string, string> {
  const values = new Map<string, string>();
  for (const argument of query) {
    const equals = argument.indexOf('=');
    const name = equals < 0 ? argument : argument.slice(0, equals);
    if (!known.includes(name) || equals < 0) throw badQuery(`unknown argument ${JSON.stringify(argument.slice(0, 40))}; allowed: ${known.map((k) => `${k}=…`).join(', ')}`);
    if (values.has(name)) throw badQuery(`${name} given twice`);
    values.set(name, argument.slice(equals + 1));
  }
  return values;
}
