// An /updates resource on our Endpoint that declines Observe registrations, serving them
// as plain GETs (RFC 7641 §4.1), as a gateway at its bound of observers does, until told
// to accept them; it records when each registration and each plain GET came.

import { ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import type { Endpoint } from '../../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import type { CoapRequest } from '../../../src/protocol/server-types.js';

export interface DecliningUpdates {
  /** When each registration (GET with Observe = 0) came, by `now()`. */
  readonly registrations: number[];
  /** When each GET without Observe came. */
  readonly plainGets: number[];
  /** From now on registrations are accepted (notifications carry Max-Age 3600). */
  accept(): void;
  /** A new representation `{ updates }`, notified to observers. */
  publish(updates: readonly unknown[]): void;
}

/** Replaces the /updates route of `endpoint` (a FakeGateway's too). */
export function declineObservers(endpoint: Endpoint, now: () => number, initial: readonly unknown[] = []): DecliningUpdates {
  let updates = initial;
  const registrations: number[] = [];
  const plainGets: number[] = [];
  // A notification renders the handler again on the stored request: counted once.
  const seen = new Set<string>();
  const handler = (request: CoapRequest) => {
    const key = `${request.token.toString('hex')}/${request.message.messageId}`;
    if (!seen.has(key)) {
      seen.add(key);
      (getUintOption(request.options, OptionNumber.Observe) === 0 ? registrations : plainGets).push(now());
    }
    return { code: ResponseCode.Content, payload: JSON.stringify({ updates }), contentFormat: ContentFormat.Json, maxAge: 3600 };
  };
  const route = (observable: boolean): void => {
    endpoint.router.remove('/updates');
    endpoint.router.add('/updates', { observable, handlers: { GET: handler } });
  };
  route(false);
  return {
    registrations, plainGets,
    accept: () => route(true),
    publish: (next) => {
      updates = next;
      endpoint.notify('/updates');
    },
  };
}
