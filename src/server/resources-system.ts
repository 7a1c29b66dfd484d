// The gateway's own /system resources (DESIGN §5), operators only: /system/config (GET the
// running configuration; PUT settings by name: system-config.ts checks, keeps and applies
// them) and /system/restart, /system/shutdown (POST: audited and answered 2.04 first; the
// graceful stop comes after the answer, and the process exits with the status that tells
// the service manager whether to start it again: src/cli/server-command.ts).

import { GatewayRoute } from '../fleet/paths.js';
import { MAX_BODY_BYTES } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import { readBody, reply } from './replies.js';
import { whoOf, type GatewayHandler, type GatewayRouter } from './routing.js';
import type { GatewayStore } from './store.js';
import type { SystemConfig } from './system-config.js';

/** What an operator asked the gateway process to do. */
export type StopRequest = 'restart' | 'shutdown';

export interface SystemResourcesContext {
  readonly router: GatewayRouter;
  readonly store: GatewayStore;
  readonly systemConfig: SystemConfig;
  /** Starts the graceful stop once the answer is on its way. */
  readonly requestStop: (request: StopRequest) => void;
  readonly now: () => Date;
}

export function addSystemResources(context: SystemResourcesContext): void {
  const { router, store, systemConfig, requestStop, now } = context;

  router.add(GatewayRoute.config, {
    attributes: linkAttributes('system.config', { if: 'item', ct: 'app' }),
    maxBodySize: MAX_BODY_BYTES,
    handlers: {
      GET: (request) => reply(request, systemConfig.view()),
      PUT: async (request, caller) => {
        const change = await systemConfig.change(readBody(request));
        const changed = [...change.applied, ...change.at_restart];
        await store.atomically((writer) => writer.audit({
          at: now().toISOString(), who: whoOf(caller.principal, request.peer), action: 'gateway.config', target: GatewayRoute.config,
          detail: changed.length === 0 ? 'no change' : `applied: ${change.applied.join(', ') || 'none'}; at restart: ${change.at_restart.join(', ') || 'none'}`,
        }));
        return reply(request, change, ResponseCode.Changed);
      },
    },
  });

  const stop = (action: StopRequest): GatewayHandler => async (request, caller) => {
    // Flushed before the answer: the record of who stopped the gateway survives the stop.
    await store.atomically((writer) => writer.audit({
      at: now().toISOString(), who: whoOf(caller.principal, request.peer), action: `gateway.${action}`, target: action === 'restart' ? GatewayRoute.restart : GatewayRoute.shutdown,
    }));
    requestStop(action);
    return { code: ResponseCode.Changed };
  };
  router.add(GatewayRoute.restart, { attributes: linkAttributes('system.restart', { if: 'action', ct: 'none' }), handlers: { POST: stop('restart') } });
  router.add(GatewayRoute.shutdown, { attributes: linkAttributes('system.shutdown', { if: 'action', ct: 'none' }), handlers: { POST: stop('shutdown') } });
}
