// Readiness, status, stopping and watchdog notifications to systemd (sd_notify(3)) from
// both daemons, with no native addon.
//
// Why systemd-notify(1) and not a socket of our own: the notification socket is an AF_UNIX
// datagram socket, and Node has none (dgram is UDP only; net's AF_UNIX sockets are streams,
// which a SOCK_DGRAM socket refuses). systemd-notify ships with systemd itself, so every
// host with a NOTIFY_SOCKET has it, unlike perl or socat on a small image, and it needs no
// compiler. Since systemd v246 it waits until the manager has read the message (BARRIER=1
// with a pipe) before it exits, so the manager can still find the sender's cgroup and
// credit the message to our unit; as the sender is our child, not the main process, the
// units say NotifyAccess=all, and --pid names this process as the main PID (a root sender's
// credentials then carry our PID too). The cost is one short process per message, at most
// one at a time, about 15-30 ms of CPU each (x86-64, loaded): the gateway's WatchdogSec=30s
// is one every 15 s, the agent's 2min one a minute.
//
// The watchdog pings come from a timer on the event loop, so a loop that is stuck (a
// runaway handler, a synchronous call that never returns) stops them and systemd restarts
// the daemon (WatchdogSec=, Restart=on-failure).

import { spawn } from 'node:child_process';
import type { DaemonLogger } from './logger.js';
import { mergeNotifications, notificationLines, notifySettings, type Notification, type NotifySettings } from './service-notify-settings.js';

/** systemd-notify waits up to 5 s for its barrier; past twice that it is stuck. */
const SEND_TIMEOUT_MS = 10_000;

export interface ServiceNotifierOptions {
  readonly log: Pick<DaemonLogger, 'warn'>;
  /** Defaults to process.env and process.pid. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly pid?: number;
}

export class ServiceNotifier {
  readonly #settings: NotifySettings | null;
  readonly #log: Pick<DaemonLogger, 'warn'>;
  readonly #pid: number;
  #pending: Notification = {};
  #sending: Promise<void> | null = null;
  #watchdog: NodeJS.Timeout | undefined;
  /** systemd-notify could not be run at all: nothing more is tried. */
  #unavailable = false;
  /** The last send failed: the next failure is not logged again. */
  #failing = false;

  /** Without NOTIFY_SOCKET it does nothing and spawns nothing. The watchdog pings start at
   * once: systemd arms the watchdog when the start-up is complete (READY=1), and a ping
   * before that is harmless. */
  constructor(options: ServiceNotifierOptions) {
    this.#log = options.log;
    this.#pid = options.pid ?? process.pid;
    this.#settings = notifySettings(options.env ?? process.env, this.#pid);
    const intervalMs = this.#settings?.watchdogIntervalMs ?? null;
    if (intervalMs !== null) {
      this.#notify({ WATCHDOG: '1' });
      // unref: the pings never keep a stopped daemon's process alive.
      this.#watchdog = setInterval(() => this.#notify({ WATCHDOG: '1' }), intervalMs).unref();
    }
  }

  /** Whether a service manager listens (NOTIFY_SOCKET is set). */
  get active(): boolean {
    return this.#settings !== null;
  }

  /** The daemon serves: READY=1, with a status line for `systemctl status`. */
  ready(status: string): void {
    this.#notify({ READY: '1', STATUS: status });
  }

  status(text: string): void {
    this.#notify({ STATUS: text });
  }

  /** STOPPING=1, the watchdog pings ended; resolves once it is sent (or failed), so the
   * process can exit after it. */
  async stopping(status: string): Promise<void> {
    clearInterval(this.#watchdog);
    this.#notify({ STOPPING: '1', STATUS: status });
    await this.settled();
  }

  /** Resolves once everything given so far was sent or failed. */
  async settled(): Promise<void> {
    while (this.#sending !== null) await this.#sending;
  }

  #notify(notification: Notification): void {
    if (this.#settings === null || this.#unavailable) return;
    this.#pending = mergeNotifications(this.#pending, notification);
    this.#sending ??= this.#drain();
  }

  async #drain(): Promise<void> {
    while (Object.keys(this.#pending).length > 0 && !this.#unavailable) {
      const next = this.#pending;
      this.#pending = {};
      await this.#send(notificationLines(next));
    }
    this.#sending = null;
  }

  /** Never rejects: a failed notification is logged, and the daemon goes on serving. */
  #send(lines: readonly string[]): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn('systemd-notify', [`--pid=${this.#pid}`, ...lines], { stdio: 'ignore', timeout: SEND_TIMEOUT_MS });
      // A program that could not start reports 'error' and then 'close' too: one outcome.
      let done = false;
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (done) return;
        done = true;
        if (error.code === 'ENOENT') {
          this.#unavailable = true;
          clearInterval(this.#watchdog);
          this.#log.warn({ notify_socket: this.#settings?.socket }, 'systemd-notify not found: no readiness or watchdog notifications to the service manager');
        } else this.#failed(`systemd-notify: ${error.message}`);
        resolve();
      });
      child.once('close', (code, signal) => {
        if (done) return;
        done = true;
        if (code === 0) this.#failing = false;
        else this.#failed(`systemd-notify ${signal === null ? `exited with status ${code}` : `ended by ${signal}`}`);
        resolve();
      });
    });
  }

  #failed(reason: string): void {
    if (!this.#failing) this.#log.warn({ notify_socket: this.#settings?.socket }, `${reason}: a notification to the service manager was lost`);
    this.#failing = true;
  }
}
