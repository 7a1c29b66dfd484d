// What the agent asks of the node's service manager (DESIGN §5 /services): the state of
// the units it may report on, and start, stop or restart one of them. Two adapters:
// systemd (systemctl, systemd-services.ts) and an operator's program (services_command,
// command-services.ts). Callers check allowed_units first (allowed-services.ts): the
// managers run whatever unit they are given.

import type { ServiceView } from '../fleet/node-views.js';
import type { AgentConfig } from './config.js';
import { CommandServiceManager } from './command-services.js';
import { SystemdServiceManager } from './systemd-services.js';

export type ServiceAction = 'start' | 'stop' | 'restart';

export const SERVICE_ACTIONS: readonly ServiceAction[] = ['start', 'stop', 'restart'];

export interface ServiceManager {
  /** The units' states, in the order given. Throws ServiceManagerError. */
  list(units: readonly string[]): Promise<ServiceView[]>;
  /** Throws ServiceManagerError. */
  status(unit: string): Promise<ServiceView>;
  /** Resolves when the manager has done it; throws ServiceManagerError when it refused or failed. */
  act(unit: string, action: ServiceAction): Promise<void>;
}

/** How long a status query may take; an action gets longer (a unit's start job may wait
 * on its dependencies). */
export const SERVICE_STATUS_TIMEOUT_MS = 10_000;
export const SERVICE_ACTION_TIMEOUT_MS = 60_000;

export function createServiceManager(config: Pick<AgentConfig, 'servicesAdapter' | 'servicesCommand'>): ServiceManager {
  switch (config.servicesAdapter) {
    case 'systemd': return new SystemdServiceManager();
    case 'command': return new CommandServiceManager(config.servicesCommand!);
  }
}
