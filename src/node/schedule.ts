import { Cron } from 'croner';
import { OutpostError } from '../protocol/index.ts';

/** When `outpost run` syncs: every so long, or at the slots of a cron expression. */
export type Schedule =
  | { kind: 'interval'; everyMs: number }
  | { kind: 'cron'; expression: string };

/**
 * Local times of day (minutes after midnight) during which scheduled syncs
 * are held back: [start, end), wrapping midnight when start > end
 * (22:00-06:00). On-demand syncs are never held back.
 */
export interface QuietHours {
  start: number;
  end: number;
}

const MINUTE = 60_000;
const DAY_MINUTES = 24 * 60;
/** How many cron slots are looked at for one outside quiet hours before the schedule is declared to never run. */
const MAX_SLOTS = 1500;

/** `--every DURATION`: `90s`, `30m`, `2h`, `1d` (1 s to 30 days) as milliseconds. */
export function parseEvery(text: string): number {
  const m = /^(\d{1,7})(s|m|h|d)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * { s: 1000, m: MINUTE, h: 60 * MINUTE, d: DAY_MINUTES * MINUTE }[m[2] as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!(ms >= 1000) || ms > 30 * DAY_MINUTES * MINUTE) throw new OutpostError('BAD_REQUEST', `--every ${JSON.stringify(text)}: use a number and s, m, h or d (e.g. 90s, 30m, 2h; from 1s to 30d)`);
  return ms;
}

/** `--quiet-hours HH:MM-HH:MM` (24-hour local time; the end is not quiet). */
export function parseQuietHours(text: string): QuietHours {
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(text.trim());
  const minutes = (h: string, mm: string): number => (Number(h) < 24 && Number(mm) < 60 ? Number(h) * 60 + Number(mm) : NaN);
  const q = m ? { start: minutes(m[1]!, m[2]!), end: minutes(m[3]!, m[4]!) } : null;
  if (!q || Number.isNaN(q.start) || Number.isNaN(q.end)) throw new OutpostError('BAD_REQUEST', `--quiet-hours ${JSON.stringify(text)}: use HH:MM-HH:MM in 24-hour local time, e.g. 22:00-06:00`);
  if (q.start === q.end) throw new OutpostError('BAD_REQUEST', `--quiet-hours ${JSON.stringify(text)}: start and end are the same time`);
  return q;
}

/** A cron expression croner accepts (5 fields, or 6 with seconds first), else BAD_REQUEST. */
function cronOf(expression: string, timeZone: string | undefined): Cron {
  try {
    return new Cron(expression, { timezone: timeZone, paused: true });
  } catch (e) {
    throw new OutpostError('BAD_REQUEST', `--cron ${JSON.stringify(expression)}: ${(e as Error).message}`);
  }
}

function checkTimeZone(timeZone: string | undefined): void {
  if (timeZone === undefined) return;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new OutpostError('BAD_REQUEST', `--time-zone ${JSON.stringify(timeZone)} is not an IANA time zone (e.g. Europe/Berlin)`);
  }
}

const fmt = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/**
 * The times of scheduled syncs, as a pure function of the clock: no timers
 * here (run-loop.ts sleeps), so every rule is testable with any clock.
 */
export class Scheduler {
  readonly schedule: Schedule;
  readonly quiet: QuietHours | null;
  /** IANA zone of the cron expression and the quiet hours; undefined: the process's local zone */
  readonly timeZone: string | undefined;
  readonly #cron: Cron | null;
  readonly #clock: Intl.DateTimeFormat;
  readonly #wall: Intl.DateTimeFormat;

  constructor(schedule: Schedule, quiet: QuietHours | null = null, timeZone?: string) {
    checkTimeZone(timeZone);
    if (schedule.kind === 'interval' && !(schedule.everyMs > 0)) throw new OutpostError('BAD_REQUEST', 'the sync interval must be positive');
    this.schedule = schedule;
    this.quiet = quiet;
    this.timeZone = timeZone;
    this.#cron = schedule.kind === 'cron' ? cronOf(schedule.expression, timeZone) : null;
    this.#clock = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
    this.#wall = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    // A cron whose every slot is in quiet hours would never sync: refuse it now, not at 3 am.
    if (this.#cron && this.quiet && this.#cronSlot(Date.UTC(2030, 0, 1)) === null) {
      throw new OutpostError('BAD_REQUEST', `--cron ${JSON.stringify(schedule.kind === 'cron' ? schedule.expression : '')} has no slot outside the quiet hours ${this.describeQuiet()}`);
    }
  }

  /** The local minute of the day (0-1439) at `ms`. */
  localMinute(ms: number): number {
    let h = 0;
    let m = 0;
    for (const p of this.#clock.formatToParts(ms)) {
      if (p.type === 'hour') h = Number(p.value);
      else if (p.type === 'minute') m = Number(p.value);
    }
    return h * 60 + m;
  }

  /** The zone's offset from UTC at `ms`, in minutes (local wall time minus UTC). */
  #offset(ms: number): number {
    const p: Record<string, number> = {};
    for (const x of this.#wall.formatToParts(ms)) if (x.type !== 'literal') p[x.type] = Number(x.value);
    const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
    return Math.round((local - (ms - (((ms % MINUTE) + MINUTE) % MINUTE))) / MINUTE);
  }

  isQuiet(ms: number): boolean {
    const q = this.quiet;
    if (!q) return false;
    const m = this.localMinute(ms);
    return q.start < q.end ? m >= q.start && m < q.end : m >= q.start || m < q.end;
  }

  /** `ms` if it is not quiet, else the first moment after it that is (a minute boundary). */
  quietEnd(ms: number): number {
    const q = this.quiet;
    if (!q || !this.isQuiet(ms)) return ms;
    // Where the zone's UTC offset is the same at both ends, wall-clock minutes
    // are real minutes and the end is exact; across a daylight-saving change
    // (the clock may even leave and re-enter the quiet hours), scan minute by minute.
    const wall = (q.end - this.localMinute(ms) + DAY_MINUTES) % DAY_MINUTES;
    const minuteStart = ms - (((ms % MINUTE) + MINUTE) % MINUTE);
    const guess = minuteStart + wall * MINUTE;
    if (this.#offset(minuteStart) === this.#offset(guess)) return guess;
    for (let t = minuteStart + MINUTE, i = 0; i < 3 * DAY_MINUTES; i++, t += MINUTE) if (!this.isQuiet(t)) return t;
    throw new OutpostError('INTERNAL', `quiet hours ${this.describeQuiet()} do not end after ${new Date(ms).toISOString()}`);
  }

  /** The first cron slot at or after `from` outside quiet hours (null: none within MAX_SLOTS slots). */
  #cronSlot(from: number): number | null {
    const cron = this.#cron!;
    let t = from - 1;
    for (let i = 0; i < MAX_SLOTS; i++) {
      const next = cron.nextRun(new Date(t));
      if (!next) return null;
      const slot = next.getTime();
      if (!this.isQuiet(slot)) return slot;
      t = this.quietEnd(slot) - 1;
    }
    return null;
  }

  /**
   * When the first scheduled sync of `outpost run` is: at once, unless that
   * is in quiet hours (then as `next` would put it).
   */
  first(now: number): number | null {
    if (!this.isQuiet(now)) return now;
    return this.#cron ? this.#cronSlot(this.quietEnd(now)) : this.quietEnd(now);
  }

  /**
   * When the scheduled sync after one that ended at `endedAt` is: an
   * interval counts from the end of the last sync; a cron takes its first
   * slot after the one just used (`slot`) and not before `endedAt`. Never
   * inside quiet hours: an interval's sync due then runs when they end, a
   * cron's at its first slot after they end. Null: the cron has no more slots.
   */
  next(endedAt: number, slot: number): number | null {
    if (this.schedule.kind === 'interval') return this.quietEnd(endedAt + this.schedule.everyMs);
    return this.#cronSlot(Math.max(endedAt, slot + 1));
  }

  /** When a failed scheduled sync is tried again: after its backoff, but never inside quiet hours. */
  retry(due: number): number {
    return this.quietEnd(due);
  }

  describeQuiet(): string {
    return this.quiet ? `${fmt(this.quiet.start)}-${fmt(this.quiet.end)}` : '';
  }

  /** For people: `every 30m`, `cron "*\/30 * * * *"`, with the quiet hours and zone. */
  describe(): string {
    const s = this.schedule;
    const what = s.kind === 'interval' ? `every ${s.everyMs % 1000 ? `${s.everyMs / 1000}s` : humanMs(s.everyMs)}` : `on cron "${s.expression}"`;
    const quiet = this.quiet ? `, quiet hours ${this.describeQuiet()}` : '';
    return `${what}${quiet}${this.timeZone && (this.quiet || this.#cron) ? ` (${this.timeZone})` : ''}`;
  }
}

function humanMs(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', MINUTE]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms / 1000}s`;
}
