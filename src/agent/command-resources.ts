// The agent's command resources (DESIGN §5, §6): GET and PUT /system/config, POST
// /system/restart and /system/shutdown, and the POST of /services/{name} (its GET is a
// read resource: services-resource.ts serves the route with this handler). Every one but the GET takes
// the operator's signed envelope as its body, through the one CommandGate; an accepted
// command answers 2.04 with a CommandResultView.

import type { CommandAction, CommandEnvelope } from '../fleet/command-envelope.js';
import type { CommandResultView } from '../fleet/node-views.js';
import { linkAttributes } from '../fleet/link-attributes.js';
import { AgentRoute } from '../fleet/paths.js';
import { encodeBody } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Router } from '../protocol/router.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import { takes, type ActionCheck, type CommandGate } from './command-gate.js';
import { CommandFailedError } from './errors.js';
import type { NodeSettings } from './node-settings.js';
import type { PowerAction, SystemPower } from './system-power.js';

/** What the command side needs of the service manager (service-manager.ts): the units
 * the configuration allows, and an action on one of them that resolves once it finished. */
export interface ServiceControl {
  act(unit: string, action: 'start' | 'stop' | 'restart'): Promise<void>;
  allowed(): readonly string[];
}

export interface CommandResourcesOptions {
  readonly router: Router;
  readonly nodeId: string;
  readonly gate: CommandGate;
  readonly settings: NodeSettings;
  readonly power: SystemPower;
}

const SERVICE_ACTIONS: Readonly<Partial<Record<CommandAction, 'start' | 'stop' | 'restart'>>> = {
  'service.start': 'start', 'service.stop': 'stop', 'service.restart': 'restart',
};

export function addCommandResources(options: CommandResourcesOptions): void {
  const { router, nodeId, gate, settings, power } = options;
  const answer = commandAnswer(nodeId);

  const configResource = `PUT ${AgentRoute.config}`;
  const fitsConfig: ActionCheck = (command) => {
    const misfit = takes('config.set', configResource)(command);
    if (misfit !== undefined) return misfit;
    const problems = settings.problems(command.args);
    return problems === undefined ? undefined : { reason: 'bad-setting', detail: problems };
  };
  router.add(AgentRoute.config, {
    attributes: linkAttributes('config', { if: 'item', ct: 'app' }),
    handlers: {
      GET: (request) => ({ code: ResponseCode.Content, ...encodeBody(settings.view(), request.accept), maxAge: 0 }),
      PUT: async (request) => {
        const command = gate.admit(request, configResource, fitsConfig);
        let change;
        try {
          change = await settings.change(command.args);
        } catch (error) {
          throw new CommandFailedError(`the settings could not be persisted: ${(error as Error).message}`, { cause: error });
        }
        const later = change.atNextStart.length === 0 ? '' : `; ${change.atNextStart.join(', ')} at the next start`;
        return answer(request, command, 'done', `set ${change.changed.join(', ')}${later}`);
      },
    },
  });

  const powerResource = (path: string, action: PowerAction): void => {
    const resource = `POST ${path}`;
    router.add(path, {
      attributes: linkAttributes(action, { if: 'action', ct: 'app' }),
      handlers: {
        POST: (request) => {
          const command = gate.admit(request, resource, takes(action, resource));
          // Already stopping for the first one: the answer says so, nothing runs twice.
          if (power.scheduled) return answer(request, command, 'scheduled', 'a restart or shutdown is already under way');
          power.schedule(action);
          return answer(request, command, 'scheduled', `the agent stops, then runs the ${action} command`);
        },
      },
    });
  };
  powerResource(AgentRoute.restart, 'restart');
  powerResource(AgentRoute.shutdown, 'shutdown');
}

/** POST /services/{name}: a signed service.start|stop|restart whose args.name is {name},
 * for a unit the configuration allows (4.04 otherwise); answered once the action finished. */
export function serviceCommandHandler(nodeId: string, services: ServiceControl, gate: CommandGate) {
  const answer = commandAnswer(nodeId);
  return async (request: CoapRequest): Promise<ResponseInit> => {
    const unit = request.params.name!;
    const resource = `POST /services/${unit}`;
    const command = gate.admit(request, resource, (envelope) => {
      if (SERVICE_ACTIONS[envelope.action] === undefined) return { reason: 'wrong-action', detail: `${resource} takes service.start, service.stop or service.restart, not ${envelope.action}` };
      if (envelope.args.name !== unit) return { reason: 'wrong-action', detail: `the command is for unit ${JSON.stringify(envelope.args.name ?? null)}, not ${unit}` };
      if (!services.allowed().includes(unit)) return { reason: 'unit-not-allowed', detail: `${unit} is not one of this node's allowed_units` };
      return undefined;
    });
    const verb = SERVICE_ACTIONS[command.action]!;
    try {
      await services.act(unit, verb);
    } catch (error) {
      throw new CommandFailedError(`${verb} ${unit} failed: ${(error as Error).message}`, { cause: error });
    }
    return answer(request, command, 'done', `${verb} ${unit} finished`);
  };
}

/** 2.04 with the CommandResultView of an accepted command. */
const commandAnswer = (nodeId: string) => (request: CoapRequest, command: CommandEnvelope, outcome: CommandResultView['outcome'], detail: string): ResponseInit => {
  const view: CommandResultView = { node_id: nodeId, action: command.action, outcome, detail };
  return { code: ResponseCode.Changed, ...encodeBody(view, request.accept) };
};
