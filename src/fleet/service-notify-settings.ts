// What the service manager asked for, read from the environment it started the daemon
// with (sd_notify(3), sd_watchdog_enabled(3)), and the notification lines a daemon sends
// back. Pure: the sending is src/fleet/service-notify.ts.

/** Where notifications go and how often the watchdog wants a ping; null without a
 * NOTIFY_SOCKET (not started by systemd as Type=notify): nothing to send. */
export interface NotifySettings {
  /** $NOTIFY_SOCKET: a path, or "@name" for an abstract socket. */
  readonly socket: string;
  /** Half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; null when the unit has no
   * WatchdogSec, or the watchdog is another process's ($WATCHDOG_PID). */
  readonly watchdogIntervalMs: number | null;
}

/** The variables a daemon sends (sd_notify(3) "Well-known assignments"). */
export type NotifyVariable = 'READY' | 'STATUS' | 'STOPPING' | 'WATCHDOG';

export type Notification = Partial<Readonly<Record<NotifyVariable, string>>>;

/** A STATUS= longer than this is cut: `systemctl status` shows one line of it. */
export const MAX_STATUS_CHARS = 200;

export function notifySettings(env: Readonly<Record<string, string | undefined>>, pid: number): NotifySettings | null {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return null;
  return { socket, watchdogIntervalMs: watchdogIntervalMs(env, pid) };
}

/** sd_watchdog_enabled(3): enabled when WATCHDOG_USEC is a positive integer and
 * WATCHDOG_PID is absent or this process's. */
function watchdogIntervalMs(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^[1-9][0-9]{0,15}$/.test(usec)) return null;
  const owner = env.WATCHDOG_PID;
  if (owner !== undefined && owner !== '' && owner !== String(pid)) return null;
  // At least a millisecond: a timer of 0 ms would ping without pause.
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/** What is still to be sent, with `next` over it: one value per variable, the newest, so
 * the queue behind a slow sender holds at most one line of each kind. */
export function mergeNotifications(pending: Notification, next: Notification): Notification {
  return { ...pending, ...next };
}

/** The VARIABLE=VALUE arguments of one message, READY before STATUS as systemd reads them
 * in order (a STATUS sent with READY=1 shows once the unit is active). */
export function notificationLines(notification: Notification): string[] {
  const order: readonly NotifyVariable[] = ['READY', 'STOPPING', 'STATUS', 'WATCHDOG'];
  return order.flatMap((name) => {
    const value = notification[name];
    return value === undefined ? [] : [`${name}=${name === 'STATUS' ? statusText(value) : value}`];
  });
}

/** One line: a newline would end the assignment and start another (sd_notify(3)). */
function statusText(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length > MAX_STATUS_CHARS ? `${line.slice(0, MAX_STATUS_CHARS - 1)}…` : line;
}
