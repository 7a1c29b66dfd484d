// Watching a rollout: Observe on /updates/{id}/status (RFC 7641) from the first state to
// the rollout's end (completed, aborted, cancelled), each state handed to a callback.

import { gatewayPath } from '../fleet/paths.js';
import type { CoapResponse } from '../protocol/client.js';
import { codeClass } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import type { StatusView } from '../fleet/views.js';
import { GatewayError, OperatorTimeoutError } from './errors.js';
import { openGateway, type GatewayOptions } from './gateway-client.js';

const FINAL_ROLLOUT_STATES: ReadonlySet<string> = new Set(['completed', 'aborted', 'cancelled']);
const REGISTER_TIMEOUT_MS = 30_000;

/** Whether the rollout has ended: nothing more will change. */
export const isRolloutOver = (view: StatusView): boolean => FINAL_ROLLOUT_STATES.has(view.rollout);

/** Whether it ended as hoped: completed, with every target installed. */
export const rolloutSucceeded = (view: StatusView): boolean =>
  view.rollout === 'completed' && Object.values(view.nodes).every((status) => status.state === 'installed');

const parseView = (response: CoapResponse): StatusView => JSON.parse(response.payload.toString('utf8')) as StatusView;

/** Observes the rollout until it ends, calling `show` with every state; resolves with the
 * last. After `timeoutMs` (if given) it deregisters and throws OperatorTimeoutError. */
export async function watchRollout(
  options: GatewayOptions, updateId: string, show: (view: StatusView) => void, timeoutMs?: number,
): Promise<StatusView> {
  const gateway = await openGateway(options);
  const controller = new AbortController();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(), timeoutMs);
  const path = gatewayPath.status(updateId);
  try {
    const { observation, first } = await gateway.endpoint.observe({
      uri: `${gateway.base}${path}`, accept: ContentFormat.Json, timeoutMs: REGISTER_TIMEOUT_MS,
    });
    if (codeClass(first.code) !== 2) throw new GatewayError(first, path);
    let view = parseView(first);
    show(view);
    controller.signal.addEventListener('abort', () => observation.forget());
    if (!isRolloutOver(view)) for await (const notification of observation) {
      if (codeClass(notification.code) !== 2) throw new GatewayError(notification, path);
      view = parseView(notification);
      show(view);
      if (isRolloutOver(view)) break;
    }
    if (controller.signal.aborted) throw new OperatorTimeoutError(`rollout ${updateId} still ${view.rollout} after the timeout`);
    await observation.cancel();
    return view;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    await gateway.close();
  }
}
