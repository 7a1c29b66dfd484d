// A device whose install system is a stand-in (test/fixtures/bin: rauc, swupdate,
// fw_printenv, fw_setenv, reboot-stand-in, all keeping their state in one directory), for
// agents run as real processes by the e2e harness (fleet.ts). It gives the agent's config
// and environment (the stand-ins first on PATH), and plays systemd's part in a reboot: when
// the reboot stand-in asks (reboot-requested), the agent is stopped with SIGTERM and started
// again, as after a real reboot. A real device cannot be rebooted in CI. The stand-ins an
// agent killed with -9 left running (a hung install) are killed at close().

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { delay, ROOT, type Fleet } from './fleet.js';
import { markedProcesses, processMarker } from './processes.js';

export type InstallSystem = 'rauc' | 'swupdate';

const BIN = join(ROOT, 'test', 'fixtures', 'bin');
const POLL_MS = 50;

export interface RaucState {
  readonly booted: string;
  readonly primary: string;
  readonly slots: Readonly<Record<string, { readonly bootname: string; readonly boot_status: string; readonly bundle_sha256?: string }>>;
}

export class StandInDevice {
  readonly dir: string;
  readonly system: InstallSystem;
  readonly #fleet: Fleet;
  readonly #nodeId: string;
  readonly #marker = processMarker();
  #reboots = 0;
  #serving: Promise<void> | undefined;
  #closed = false;
  #failure: Error | undefined;

  private constructor(fleet: Fleet, nodeId: string, system: InstallSystem) {
    this.#fleet = fleet;
    this.#nodeId = nodeId;
    this.system = system;
    this.dir = join(fleet.dir, `${nodeId}-device`);
  }

  /** A device booted from its first slot (RAUC rootfs.0, SWUpdate copy1), both good. */
  static async create(fleet: Fleet, nodeId: string, system: InstallSystem): Promise<StandInDevice> {
    const device = new StandInDevice(fleet, nodeId, system);
    await mkdir(device.dir, { recursive: true });
    if (system === 'rauc') {
      await device.#write('rauc.json', {
        compatible: 'coap-fleet stand-in', booted: 'rootfs.0', primary: 'rootfs.0',
        slots: { 'rootfs.0': { bootname: 'A', boot_status: 'good' }, 'rootfs.1': { bootname: 'B', boot_status: 'good' } },
      });
    } else {
      await device.#write('uboot-env.json', { boot_copy: 'copy1', upgrade_available: '0', bootcount: '0', bootlimit: '3' });
      await device.#write('swupdate.json', {});
    }
    return device;
  }

  /** The agent's config keys for this device. */
  config(extra: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
    return { install_adapter: this.system, reboot_command: join(BIN, 'reboot-stand-in'), reboot_timeout_s: 60, ...extra };
  }

  get env(): Record<string, string> {
    return { PATH: `${BIN}:${process.env.PATH ?? ''}`, COAP_FLEET_STANDIN_DIR: this.dir, ...this.#marker.env };
  }

  /** Starts the agent on this device and serves its reboots until close(). */
  async start(config: Readonly<Record<string, unknown>> = {}): Promise<void> {
    await this.#fleet.startAgent(this.#nodeId, { config: this.config(config), env: this.env });
    this.#serving ??= this.#serveReboots();
  }

  /** Reboots done so far (the agent stopped and started again). */
  get reboots(): number {
    if (this.#failure !== undefined) throw this.#failure;
    return this.#reboots;
  }

  /** Switches a fault of the stand-ins on (rauc-install-fails, boot-fails, …). */
  fault(name: string, content = ''): Promise<void> {
    return writeFile(join(this.dir, name), content);
  }

  /** The stand-ins' calls, one argv per line, in order. */
  calls(): string[] {
    return readFileSync(join(this.dir, 'calls.log'), 'utf8').trimEnd().split('\n');
  }

  rauc(): RaucState {
    return this.#read('rauc.json') as RaucState;
  }

  ubootEnv(): Record<string, string> {
    return this.#read('uboot-env.json') as Record<string, string>;
  }

  swupdateCopies(): Record<string, string> {
    return this.#read('swupdate.json') as Record<string, string>;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#serving;
    const agent = this.#fleet.agents.get(this.#nodeId);
    for (const pid of await markedProcesses(this.#marker.value)) {
      if (pid === agent?.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }

  async #serveReboots(): Promise<void> {
    const request = join(this.dir, 'reboot-requested');
    try {
      while (!this.#closed) {
        if (existsSync(request)) {
          await rm(request);
          await this.#fleet.agent(this.#nodeId).stop();
          this.#reboots++;
          await this.#fleet.restartAgent(this.#nodeId);
        }
        await delay(POLL_MS);
      }
    } catch (error) {
      this.#failure = error as Error;
    }
  }

  #read(name: string): unknown {
    return JSON.parse(readFileSync(join(this.dir, name), 'utf8'));
  }

  #write(name: string, value: unknown): Promise<void> {
    return writeFile(join(this.dir, name), `${JSON.stringify(value, null, 2)}\n`);
  }
}
