// Maintenance windows (issue 13): when a node may install, as daily ranges of wall-clock
// time on given weekdays in one IANA time zone, e.g. "Mon-Fri 02:00-05:00 Europe/Berlin"
// or "Mon-Fri 02:00-05:00; Sat,Sun 00:00-06:00,22:00-24:00 UTC". Wall time comes from
// Intl (no time zone data of our own), so daylight saving time moves a window with the
// clock: a start inside a skipped hour opens at the first minute after it, and a range in
// a repeated hour is open both times. Pure: instants in, instants out.

export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

/** One clause: these weekdays (0 = Sunday), each with ranges of minutes of the day
 * [start, end); an end not after its start runs past midnight into the next day. */
export interface WindowClause {
  readonly days: readonly number[];
  readonly ranges: readonly (readonly [number, number])[];
}

export interface MaintenanceWindow {
  /** The text it was parsed from, as the policy carries it. */
  readonly text: string;
  readonly clauses: readonly WindowClause[];
  readonly timeZone: string;
}

/** The longest window text a policy may carry. */
export const MAX_WINDOW_TEXT = 256;
const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;
/** A window opens at least once a week; this bounds the search however the zone's offset moves. */
const SEARCH_LIMIT_MS = 8 * 86_400_000;
/** The Max-Age option is a uint of up to 4 bytes (RFC 7252 §5.10.5). */
export const MAX_AGE_LIMIT_S = 0xffff_ffff;

/** A window from its text, or what is wrong with it. */
export function parseWindow(text: string): MaintenanceWindow | { readonly problem: string } {
  if (text.length > MAX_WINDOW_TEXT) return { problem: `window: at most ${MAX_WINDOW_TEXT} characters` };
  const trimmed = text.trim();
  const zoneAt = trimmed.lastIndexOf(' ');
  const timeZone = zoneAt === -1 ? '' : trimmed.slice(zoneAt + 1);
  if (!isTimeZone(timeZone)) {
    return { problem: `window ${JSON.stringify(text)}: ends with an IANA time zone (Europe/Berlin, UTC), not ${JSON.stringify(timeZone)}` };
  }
  const clauses: WindowClause[] = [];
  for (const clauseText of trimmed.slice(0, zoneAt).split(';')) {
    const clause = parseClause(clauseText.trim());
    if (typeof clause === 'string') return { problem: `window ${JSON.stringify(text)}: ${clause}` };
    clauses.push(clause);
  }
  return { text, clauses, timeZone };
}

/** Whether installs may start at `at` (epoch ms). */
export function isInside(window: MaintenanceWindow, at: number): boolean {
  const { weekday, minute } = wallTime(window.timeZone, at);
  return window.clauses.some((clause) => insideClause(clause, weekday, minute));
}

/** The first instant at or after `at` (epoch ms) inside the window. */
export function nextOpening(window: MaintenanceWindow, at: number): number {
  if (isInside(window, at)) return at;
  // Outside, so the whole wall minute is: step from its start, by the wall minutes to the
  // next range start, as long as the zone's offset stays the same over the step (then wall
  // and real time run alike); across an offset change, to the change itself, and look again.
  let t = Math.floor(at / MINUTE_MS) * MINUTE_MS;
  while (t - at <= SEARCH_LIMIT_MS) {
    const wall = wallTime(window.timeZone, t);
    if (window.clauses.some((clause) => insideClause(clause, wall.weekday, wall.minute))) return t;
    const next = t + minutesToNextStart(window.clauses, wall.weekday, wall.minute) * MINUTE_MS;
    t = wallTime(window.timeZone, next).offset === wall.offset ? next : offsetChange(window.timeZone, t, next, wall.offset);
  }
  // parseWindow accepts only windows with a range on some day, so this is not reached.
  throw new RangeError(`window ${window.text} does not open within 8 days`);
}

/** Seconds from `at` to the window's next opening for a 5.03's Max-Age: 0 when open,
 * else at least 1 and at most the option's range. */
export function secondsUntilOpen(window: MaintenanceWindow, at: number): number {
  const opening = nextOpening(window, at);
  return opening === at ? 0 : Math.min(MAX_AGE_LIMIT_S, Math.max(1, Math.ceil((opening - at) / 1000)));
}

// ---- pure helpers ------------------------------------------------------------------

function isTimeZone(name: string): boolean {
  if (name === '' || !/^[A-Za-z][A-Za-z0-9_+/-]*$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** "Mon-Fri 02:00-05:00,22:00-24:00", "Sat,Sun 00:00-06:00", "daily 03:00-04:00". */
function parseClause(text: string): WindowClause | string {
  const [daysText, rangesText, ...rest] = text.split(/\s+/);
  if (daysText === undefined || rangesText === undefined || rest.length > 0) return `each clause is DAYS HH:MM-HH:MM[,HH:MM-HH:MM…], not ${JSON.stringify(text)}`;
  const days = parseDays(daysText);
  if (typeof days === 'string') return days;
  const ranges: [number, number][] = [];
  for (const rangeText of rangesText.split(',')) {
    const match = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(rangeText);
    const start = match === null ? NaN : minuteOf(match[1]!, match[2]!);
    const end = match === null ? NaN : minuteOf(match[3]!, match[4]!);
    if (!(start < DAY_MINUTES) || !(end <= DAY_MINUTES) || start === end) return `a range is HH:MM-HH:MM of two different times (24:00 ends a day), not ${JSON.stringify(rangeText)}`;
    ranges.push([start, end]);
  }
  return { days, ranges };
}

function minuteOf(hours: string, minutes: string): number {
  const h = Number(hours);
  const m = Number(minutes);
  if (m > 59 || h > 24 || (h === 24 && m > 0)) return NaN;
  return h * 60 + m;
}

/** "Mon-Fri", "Sat,Sun", "Fri-Mon" (wrapping), "daily" or "*". */
function parseDays(text: string): number[] | string {
  if (text === 'daily' || text === '*') return [0, 1, 2, 3, 4, 5, 6];
  const days = new Set<number>();
  for (const part of text.split(',')) {
    const [from, to, ...extra] = part.split('-').map((name) => (WEEKDAYS as readonly string[]).indexOf(name));
    if (from === undefined || from === -1 || to === -1 || extra.length > 0) return `days are Mon-Fri, Sat,Sun, daily or * (names ${WEEKDAYS.join(' ')}), not ${JSON.stringify(text)}`;
    for (let day = from; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === (to ?? from)) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

function insideClause(clause: WindowClause, weekday: number, minute: number): boolean {
  const yesterday = (weekday + 6) % 7;
  return clause.ranges.some(([start, end]) => (start < end
    ? clause.days.includes(weekday) && minute >= start && minute < end
    : (clause.days.includes(weekday) && minute >= start) || (clause.days.includes(yesterday) && minute < end)));
}

/** Wall minutes from (weekday, minute) to the next range start of any clause (1 to 7 days). */
function minutesToNextStart(clauses: readonly WindowClause[], weekday: number, minute: number): number {
  let best = 8 * DAY_MINUTES;
  for (const clause of clauses) {
    for (const day of clause.days) {
      for (const [start] of clause.ranges) {
        let ahead = ((day - weekday + 7) % 7) * DAY_MINUTES + start - minute;
        if (ahead <= 0) ahead += 7 * DAY_MINUTES;
        best = Math.min(best, ahead);
      }
    }
  }
  return best;
}

/** The first whole minute in (from, to] whose offset is not `offset` (found by halving). */
function offsetChange(timeZone: string, from: number, to: number, offset: number): number {
  let low = from;
  let high = to;
  while (high - low > MINUTE_MS) {
    const middle = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
    if (wallTime(timeZone, middle).offset === offset) low = middle;
    else high = middle;
  }
  return high;
}

interface WallTime {
  readonly weekday: number;
  readonly minute: number;
  /** Wall time minus UTC, in minutes. */
  readonly offset: number;
}

/** The weekday, minute of the day and UTC offset of `at` in `timeZone`. */
function wallTime(timeZone: string, at: number): WallTime {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
  }).formatToParts(at);
  const field = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((part) => part.type === type)!.value);
  const [year, month, day, hour, minute] = [field('year'), field('month'), field('day'), field('hour'), field('minute')];
  const wallAsUtc = Date.UTC(year, month - 1, day, hour, minute);
  return {
    weekday: new Date(wallAsUtc).getUTCDay(), minute: hour * 60 + minute,
    offset: Math.round((wallAsUtc - Math.floor(at / MINUTE_MS) * MINUTE_MS) / MINUTE_MS),
  };
}
