import { z } from 'zod';

/*
 * Wall clocks in IANA time zones, shared by coverage timeframes and maintenance windows. Pure:
 * instants are epoch milliseconds, and wall-clock times are turned into instants through the
 * time zone database (Intl), so DST is whatever the zone says it is.
 */

const HOUR = 3_600_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    // en-US with h23 formats as "M/D/YYYY, HH:MM:SS"; format() is about three times faster than
    // formatToParts(), and this runs for every check result.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Whether `tz` is a time zone this runtime's Intl knows (an IANA name such as `Europe/Berlin`, or `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    // Intl throws a RangeError for an unknown zone; that is the answer, not a failure.
    return false;
  }
}

/**
 * The wall clock of instant `t` in zone `tz`, as milliseconds since 1970-01-01T00:00 of that
 * wall clock (a "local epoch": `Date.UTC` of the local date and time).
 */
export function wallClock(t: number, tz: string): number {
  const [mo, d, y, h, mi, s] = formatter(tz).format(t).match(/\d+/g)!.map(Number);
  const ms = ((t % 1000) + 1000) % 1000;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms);
}

/** The UTC offset of zone `tz` at instant `t`, in milliseconds (Berlin in summer: +7,200,000). */
export function tzOffset(t: number, tz: string): number {
  return wallClock(t, tz) - t;
}

/**
 * The instant at which the wall clock of `tz` first reads `wall` (a local epoch, see
 * `wallClock`). A wall time skipped by a spring-forward gap maps to the instant after the gap
 * (02:30 on the day Berlin jumps from 02:00 to 03:00 is 03:00 CEST); a time that a fall-back
 * repeats maps to its first occurrence. Both rules make the mapping monotonic, so a range of
 * wall times always maps to a range of instants.
 */
export function wallToInstant(wall: number, tz: string): number {
  // Offsets lie within -12 h..+14 h, so the instant lies within wall-14h..wall+12h; the offsets
  // just outside that span are the only two candidates (zones change at most once a day).
  const before = tzOffset(wall - 15 * HOUR, tz);
  const after = tzOffset(wall + 13 * HOUR, tz);
  if (before === after) return wall - before;
  const early = wall - before;
  const late = wall - after;
  const earlyOk = tzOffset(early, tz) === before;
  const lateOk = tzOffset(late, tz) === after;
  if (earlyOk && lateOk) return Math.min(early, late);
  if (earlyOk) return early;
  if (lateOk) return late;
  // In a gap: the transition lies between the two candidates; find its first instant.
  let lo = Math.min(early, late);
  let hi = Math.max(early, late);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (tzOffset(mid, tz) === after) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The instant of local date and time `y-m-d hh:mm` in zone `tz` (month 1-12; days and minutes
 * past their range roll over, so `hh = 24` is the next midnight). DST rules as in `wallToInstant`.
 */
export function zonedTime(y: number, m: number, d: number, hh: number, mm: number, tz: string): number {
  return wallToInstant(Date.UTC(y, m - 1, d, hh, mm), tz);
}

/** The local date of instant `t` in `tz`, as whole days since 1970-01-01 of that calendar. */
export function localDay(t: number, tz: string): number {
  return Math.floor(wallClock(t, tz) / DAY);
}

/** An IANA time zone name, checked against this runtime's Intl. */
export const timeZoneSchema = z.string().refine(isTimeZone, {
  error: (iss) => `unknown time zone "${String(iss.input)}": use an IANA name such as Europe/Berlin, America/New_York or UTC`,
});

/** A stretch [from, to) of instants over which zone's UTC offset is constant. */
export interface Segment {
  readonly from: number;
  readonly to: number;
  readonly offset: number;
}

/**
 * Splits [lo, hi) at the zone's offset changes. Samples once a day (zones change at most that
 * often) and bisects to the millisecond where the offset differs, which happens twice a year.
 */
export function offsetSegments(lo: number, hi: number, tz: string): Segment[] {
  const out: Segment[] = [];
  let from = lo;
  let offset = tzOffset(lo, tz);
  let known = lo; // the latest instant known to have `offset`
  while (known < hi - 1) {
    const probe = Math.min(known + DAY, hi - 1);
    if (tzOffset(probe, tz) === offset) {
      known = probe;
      continue;
    }
    let x = known;
    let y = probe;
    while (y - x > 1) {
      const mid = Math.floor((x + y) / 2);
      if (tzOffset(mid, tz) === offset) x = mid;
      else y = mid;
    }
    out.push({ from, to: y, offset });
    from = known = y;
    offset = tzOffset(y, tz);
  }
  out.push({ from, to: hi, offset });
  return out;
}
