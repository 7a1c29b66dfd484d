// The gateway's alerts for an operator: the list (GET /alerts, active or with the cleared
// ones kept), an acknowledgement (PUT /alerts/{id}), and the list watched with Observe
// (RFC 7641) until the caller stops it.

import { GatewayRoute, gatewayPath } from '../fleet/paths.js';
import type { AlertView } from '../fleet/views.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass, Method } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import { GatewayError } from './errors.js';
import type { GatewayClient } from './gateway-client.js';

export type AlertSelection = 'active' | 'all';

const REGISTER_TIMEOUT_MS = 30_000;

// The client takes the query from the URI it is given (Endpoint#target).
const listPath = (which: AlertSelection): string => `${GatewayRoute.alerts}?state=${which}`;

export async function listAlerts(gateway: GatewayClient, which: AlertSelection = 'active'): Promise<AlertView[]> {
  return (await gateway.json<{ alerts: AlertView[] }>(Method.GET, listPath(which))).alerts;
}

export function acknowledgeAlert(gateway: GatewayClient, id: string): Promise<AlertView> {
  return gateway.json<AlertView>(Method.PUT, gatewayPath.alert(id), { acknowledged: true });
}

const alertsOf = (response: CoapResponse): AlertView[] => (JSON.parse(response.payload.toString('utf8')) as { alerts: AlertView[] }).alerts;

/** Observes the list, calling `show` with the first and every later one, until `stop`
 * resolves (then deregisters) or the gateway ends the observation. */
export async function watchAlerts(gateway: GatewayClient, which: AlertSelection, show: (alerts: AlertView[]) => void, stop: Promise<unknown>): Promise<void> {
  const { observation, first } = await gateway.endpoint.observe({
    uri: `${gateway.base}${listPath(which)}`, accept: ContentFormat.Json, timeoutMs: REGISTER_TIMEOUT_MS,
  });
  if (codeClass(first.code) !== 2) throw new GatewayError(first, GatewayRoute.alerts);
  show(alertsOf(first));
  // cancel() ends the iteration below and tells the gateway (RFC 7641 §3.6); it never throws.
  void stop.then(() => observation.cancel());
  for await (const notification of observation) {
    if (codeClass(notification.code) !== 2) throw new GatewayError(notification, GatewayRoute.alerts);
    show(alertsOf(notification));
  }
}
