// The units the agent may report on and act upon (allowed_units): the one gate in front
// of the service manager, so a name from a request never reaches systemctl unless the
// node's configuration lists it. Changes live (setAllowedUnits, for /system/config).

import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import type { ServiceManager } from './service-manager.js';

export class AllowedServices {
  readonly manager: ServiceManager;
  #units: readonly string[];

  constructor(manager: ServiceManager, units: readonly string[]) {
    this.manager = manager;
    this.#units = [...units];
  }

  get units(): readonly string[] {
    return this.#units;
  }

  setAllowedUnits(units: readonly string[]): void {
    this.#units = [...units];
  }

  isAllowed(name: string): boolean {
    return this.#units.includes(name);
  }

  /** `name` when it is allowed; else 4.04, the answer for a unit the node does not show. */
  check(name: string): string {
    if (!this.isAllowed(name)) throw new ResponseError(ResponseCode.NotFound, `unit ${name} not in allowed_units`, { diagnostic: 'not an allowed unit of this node' });
    return name;
  }
}
