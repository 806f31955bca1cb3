import fs from 'node:fs';
import { z } from 'zod';

/*
 * Service timeframes ("coverage"): the hours in which a service is staffed, modelled on
 * Alertmanager's time_intervals. Everything here is pure: time comes in as epoch milliseconds,
 * and wall-clock times are turned into instants through the time zone database (Intl), so DST
 * is whatever the zone says it is.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MINUTES_PER_DAY = 1440;

/**
 * How far ahead `nextChange` and `addActive` look before they answer Infinity. A week would do
 * for one zone; a year and a bit covers unions of zones whose DST rules drift apart and back.
 */
const HORIZON_MS = 400 * DAY;
/**
 * Interval arithmetic works on chunks, so a long span never builds a long list; searches for the
 * next change or a deadline use short ones, since the answer is usually days away at most.
 */
const CHUNK_MS = 31 * DAY;
const SEARCH_CHUNK_MS = 8 * DAY;

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

let hostZone: string | undefined;

/** Whether the system's tz database has this zone (a cheap check that needs no Intl). */
function zoneFile(name: string): boolean {
  return !name.includes('..') && fs.existsSync(`/usr/share/zoneinfo/${name}`);
}

/**
 * The host's IANA time zone (UTC when it cannot be told). $TZ or the /etc/localtime link
 * answer without Intl: merely starting Intl's time zone support maps some 6 MB of ICU data,
 * which an agent that never evaluates a timeframe should not pay for.
 */
export function hostTimeZone(): string {
  if (hostZone) return hostZone;
  // A POSIX TZ such as CET-1CEST is not an IANA name: it falls through to Intl, which reads it.
  const fromEnv = process.env.TZ?.replace(/^:/, '');
  if (fromEnv && /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(fromEnv) && zoneFile(fromEnv)) return (hostZone = fromEnv);
  try {
    const link = fs.readlinkSync('/etc/localtime');
    const m = /zoneinfo\/(.+)$/.exec(link);
    if (m && zoneFile(m[1])) return (hostZone = m[1]);
  } catch {
    // No link (not Linux, or a copied file): ask Intl.
  }
  return (hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
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
function localDay(t: number, tz: string): number {
  return Math.floor(wallClock(t, tz) / DAY);
}

const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

function dayIndex(name: string): number | undefined {
  const n = name.trim().toLowerCase();
  const i = DAY_NAMES.findIndex((full) => full === n || full.slice(0, 3) === n);
  return i < 0 ? undefined : i;
}

/** Parses `mon`, `monday`, `mon-fri`, `fri-mon` (wrapping) or a comma list into weekday numbers (0 = Sunday). */
function parseDays(items: readonly string[], ctx: z.RefinementCtx): number[] {
  const set = new Set<number>();
  for (const item of items) {
    for (const token of item.split(',')) {
      const [from, to, ...rest] = token.split('-');
      const a = dayIndex(from);
      const b = to === undefined ? a : dayIndex(to);
      if (a === undefined || b === undefined || rest.length) {
        ctx.addIssue({
          code: 'custom',
          continue: true,
          message: `unknown day "${token.trim()}": use mon, tue, wed, thu, fri, sat, sun (or the full names), or a range such as mon-fri`,
        });
        continue;
      }
      // A range runs forward through the week, so fri-mon is fri, sat, sun, mon.
      for (let d = a; ; d = (d + 1) % 7) {
        set.add(d);
        if (d === b) break;
      }
    }
  }
  return [...set].sort((x, y) => x - y);
}

const HOURS_RE = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/;

/** One range of wall-clock minutes on the day it starts; `end > 1440` runs into the next day. */
export interface MinuteRange {
  /** Minutes after local midnight, 0-1439, inclusive. */
  readonly start: number;
  /** Minutes after local midnight of the start day, exclusive: up to 1440, or beyond for an overnight range. */
  readonly end: number;
}

function parseHours(items: readonly string[], ctx: z.RefinementCtx): MinuteRange[] {
  const out: MinuteRange[] = [];
  for (const text of items) {
    const m = HOURS_RE.exec(text);
    if (!m) {
      ctx.addIssue({ code: 'custom', continue: true, message: `expected a time range "HH:MM-HH:MM" such as "08:00-18:00", got "${text}"` });
      continue;
    }
    const [sh, sm, eh, em] = m.slice(1).map(Number);
    const start = sh * 60 + sm;
    let end = eh * 60 + em;
    const badStart = sh > 23 || sm > 59;
    const badEnd = em > 59 || eh > 24 || (eh === 24 && em !== 0);
    if (badStart || badEnd) {
      const which = badStart ? `${m[1]}:${m[2]}` : `${m[3]}:${m[4]}`;
      ctx.addIssue({
        code: 'custom',
        continue: true,
        message: `"${which}" is not a time of day: hours 00-23, minutes 00-59 (24:00 only as an end), in "${text.trim()}"`,
      });
      continue;
    }
    if (start === end) {
      ctx.addIssue({
        code: 'custom',
        continue: true,
        message: `"${text.trim()}" starts and ends at the same time: leave hours out (or write 00:00-24:00) for the whole day`,
      });
      continue;
    }
    // An end before the start crosses midnight; the range belongs to the day it starts on, so
    // "fri 22:00-06:00" covers Friday night into Saturday morning (Alertmanager makes you split it).
    if (end < start) end += MINUTES_PER_DAY;
    out.push({ start, end });
  }
  return out;
}

const listOf = (what: string, example: string) =>
  z.union([z.string(), z.array(z.string()).min(1)], { error: `expected ${what} such as ${example}, or a list of them` });

/** An IANA time zone name, checked against this runtime's Intl. */
export const timeZoneSchema = z.string().refine(isTimeZone, {
  error: (iss) => `unknown time zone "${String(iss.input)}": use an IANA name such as Europe/Berlin, America/New_York or UTC`,
});

/** One timeframe spec: days, hours within them, and the zone they are read in. */
export const timeframeSpecSchema = z
  .strictObject({
    days: listOf('day names or ranges', '"mon-fri"')
      .default('mon-sun')
      .transform((v, ctx) => parseDays(typeof v === 'string' ? [v] : v, ctx))
      .describe('Days: names (mon, monday), ranges (mon-fri; fri-mon wraps), case-insensitive; a string or a list. Default every day.'),
    hours: listOf('time ranges', '"08:00-18:00"')
      .default('00:00-24:00')
      .transform((v, ctx) => parseHours(typeof v === 'string' ? [v] : v, ctx))
      .describe('"HH:MM-HH:MM" ranges, start inclusive, end exclusive, 24:00 allowed as an end; an end before the start runs past midnight. Default all day.'),
    timezone: timeZoneSchema.optional().describe('IANA time zone the days and hours are read in (default: the host\'s).'),
  })
  .describe('A set of weekly hours; the timeframe is active when the local day and time match.');

/**
 * When neither form of a timeframe parses, zod reports only that the union failed; name the
 * first problem of the form the user wrote (a list or a single spec) instead.
 */
function timeframeUnionError(iss: z.core.$ZodRawIssue): string {
  const fallback = 'expected a timeframe: { days, hours, timezone }, or a list of them';
  if (iss.code !== 'invalid_union') return fallback;
  const branch = (iss as unknown as { errors?: z.core.$ZodIssue[][] }).errors?.[Array.isArray(iss.input) ? 1 : 0];
  const first = branch?.[0];
  if (!first || (first.code === 'invalid_type' && first.path.length === 0)) return fallback;
  const where = first.path.length ? `${first.path.join('.')}: ` : '';
  return `${where}${first.message.replace(/^Invalid input: /, '')}`;
}

/** One named timeframe's value: a spec, or a list of specs (active when any of them is). */
export const timeframeSchema = z
  .union([timeframeSpecSchema, z.array(timeframeSpecSchema).min(1, { message: 'a list of specs needs at least one' })], {
    error: timeframeUnionError,
  })
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .describe('A timeframe: one spec or a list of specs; active when any spec is.');

/** Timeframe names: safe in URLs, metric labels and file names (presets such as 24x7 included). */
export const TIMEFRAME_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The `coverage:` section: named service timeframes. The presets always exist; a user entry of the same name replaces one. */
export const coverageSchema = z
  .record(
    z.string().regex(TIMEFRAME_NAME_RE, { message: 'timeframe names are letters, digits and _ . -, starting with a letter or digit' }),
    timeframeSchema,
  )
  .describe('Named service timeframes (days, hours, time zone), like Alertmanager time_intervals.');

/** The parsed `coverage:` section. */
export type CoverageConfig = z.output<typeof coverageSchema>;

/**
 * The built-in timeframes, in config form; read in the host's zone. `8x5` is 09:00-17:00 and
 * `12x5` 08:00-20:00, the usual office and extended-support days.
 */
export const PRESETS: Readonly<Record<string, z.input<typeof timeframeSchema>>> = Object.freeze({
  '24x7': {},
  '24x5': { days: 'mon-fri' },
  '12x5': { days: 'mon-fri', hours: '08:00-20:00' },
  '8x5': { days: 'mon-fri', hours: '09:00-17:00' },
});

/** One compiled spec: weekdays (0 = Sunday), minute ranges, and a resolved zone. */
export interface TimeframeSpec {
  readonly days: readonly number[];
  readonly hours: readonly MinuteRange[];
  readonly timezone: string;
}

/** A compiled service timeframe: the union of its specs. */
export interface Timeframe {
  readonly name: string;
  readonly specs: readonly TimeframeSpec[];
  /** True when the specs cover every moment (24x7), so no arithmetic is needed. */
  readonly always: boolean;
}

/** Options for compiling; the zone is injectable so tests (and presets) do not depend on the host. */
export interface CompileOptions {
  /** Zone of specs that name none, presets included (default: the host's). */
  timezone?: string;
}

/** Compiles one timeframe value (already parsed by `timeframeSchema`). */
export function compileTimeframe(name: string, specs: z.output<typeof timeframeSchema>, opts: CompileOptions = {}): Timeframe {
  const fallback = opts.timezone ?? hostTimeZone();
  const compiled = specs.map((s) => ({ days: s.days, hours: s.hours, timezone: s.timezone ?? fallback }));
  return { name, specs: compiled, always: coversEverything(compiled) };
}

/** Compiles the `coverage:` section: presets first, then the user's timeframes (which win on a name clash). */
export function compileCoverage(raw: CoverageConfig | undefined, opts: CompileOptions = {}): Map<string, Timeframe> {
  const out = new Map<string, Timeframe>();
  for (const [name, value] of Object.entries(PRESETS)) out.set(name, compileTimeframe(name, timeframeSchema.parse(value), opts));
  for (const [name, value] of Object.entries(raw ?? {})) out.set(name, compileTimeframe(name, value, opts));
  return out;
}

/**
 * Whether the specs of one zone together cover every wall-clock minute of every weekday. Wall
 * coverage implies coverage of every instant, because the wall-to-instant mapping is monotonic
 * and consecutive days meet (the end of day N is the start of day N+1), DST or not.
 */
function coversEverything(specs: readonly TimeframeSpec[]): boolean {
  const zones = new Set(specs.map((s) => s.timezone));
  for (const tz of zones) {
    const own = specs.filter((s) => s.timezone === tz);
    let all = true;
    for (let wd = 0; wd < 7 && all; wd++) {
      const ranges: [number, number][] = [];
      for (const s of own) {
        if (s.days.includes(wd)) for (const r of s.hours) ranges.push([r.start, Math.min(r.end, MINUTES_PER_DAY)]);
        if (s.days.includes((wd + 6) % 7)) for (const r of s.hours) if (r.end > MINUTES_PER_DAY) ranges.push([0, r.end - MINUTES_PER_DAY]);
      }
      ranges.sort((a, b) => a[0] - b[0]);
      let reach = 0;
      for (const [a, b] of ranges) if (a <= reach) reach = Math.max(reach, b);
      all = reach >= MINUTES_PER_DAY;
    }
    if (all) return true;
  }
  return false;
}

type Interval = readonly [number, number];

/** Per spec: local day → its active intervals as instants. Days repeat across calls (SLA clocks, nextChange), and each costs a few Intl calls. */
const dayCache = new WeakMap<TimeframeSpec, Map<number, readonly Interval[]>>();
const DAY_CACHE_MAX = 4096;

/** The intervals [start, end) of instants that spec `s` contributes on local day `day` (those that start on it). */
function dayIntervals(s: TimeframeSpec, day: number): readonly Interval[] {
  let cache = dayCache.get(s);
  if (!cache) dayCache.set(s, (cache = new Map()));
  const hit = cache.get(day);
  if (hit) return hit;
  const out: Interval[] = [];
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  if (s.days.includes(weekday)) {
    for (const r of s.hours) {
      const a = wallToInstant(day * DAY + r.start * MINUTE, s.timezone);
      const b = wallToInstant(day * DAY + r.end * MINUTE, s.timezone);
      // A range inside a spring-forward gap maps to nothing that day.
      if (a < b) out.push([a, b]);
    }
  }
  if (cache.size >= DAY_CACHE_MAX) cache.clear();
  cache.set(day, out);
  return out;
}

/**
 * The timeframe's active intervals that touch [lo, hi] (start <= hi, end > lo), merged and
 * sorted. Every interval of the union that reaches into [lo, hi] is here whole, so a boundary
 * found inside [lo, hi] is a real one.
 */
function intervals(tf: Timeframe, lo: number, hi: number): Interval[] {
  const all: Interval[] = [];
  for (const s of tf.specs) {
    // Ranges end before the end of the day after their start day, so the day before lo is the
    // earliest that can reach into [lo, hi].
    const last = localDay(hi, s.timezone);
    for (let day = localDay(lo, s.timezone) - 1; day <= last; day++) {
      for (const iv of dayIntervals(s, day)) if (iv[0] <= hi && iv[1] > lo) all.push(iv);
    }
  }
  all.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of all) {
    const top = merged[merged.length - 1];
    if (top && a <= top[1]) top[1] = Math.max(top[1], b);
    else merged.push([a, b]);
  }
  return merged;
}

/** Whether timeframe `tf` is active at instant `t`. */
export function isActive(tf: Timeframe, t: number): boolean {
  if (tf.always) return true;
  for (const s of tf.specs) {
    const day = localDay(t, s.timezone);
    for (const d of [day, day - 1]) {
      for (const [a, b] of dayIntervals(s, d)) if (a <= t && t < b) return true;
    }
  }
  return false;
}

/** The next instant after `t` at which `isActive` flips; Infinity when it never does (24x7). */
export function nextChange(tf: Timeframe, t: number): number {
  if (tf.always) return Infinity;
  // Once t is known to be active, later chunks start inside the same stretch of the union, and
  // the first interval they see may be a piece of it that starts after t: only its end counts.
  let running = false;
  for (let lo = t; lo < t + HORIZON_MS; lo += SEARCH_CHUNK_MS) {
    const hi = lo + SEARCH_CHUNK_MS;
    const first = intervals(tf, lo, hi)[0];
    if (!first) continue;
    if (!running && first[0] > t) return first[0];
    if (first[1] <= hi) return first[1];
    running = true;
  }
  return Infinity;
}

/** Milliseconds of [from, to) inside the timeframe: "business elapsed" for SLA clocks that pause outside it. */
export function activeMs(tf: Timeframe, from: number, to: number): number {
  if (!(to > from)) return 0;
  if (tf.always) return to - from;
  let total = 0;
  for (let lo = from; lo < to; lo += CHUNK_MS) {
    const hi = Math.min(lo + CHUNK_MS, to);
    for (const [a, b] of intervals(tf, lo, hi)) total += Math.max(0, Math.min(b, hi) - Math.max(a, lo));
  }
  return total;
}

/**
 * The earliest instant at which `activeMs(tf, from, instant) === ms`: the deadline of an SLA
 * clock started at `from` with target `ms`. Infinity when the timeframe is never active again.
 */
export function addActive(tf: Timeframe, from: number, ms: number): number {
  if (!(ms > 0)) return from;
  if (tf.always || ms === Infinity) return from + ms;
  let left = ms;
  let idleSince = from;
  for (let lo = from; lo - idleSince < HORIZON_MS; lo += SEARCH_CHUNK_MS) {
    const hi = lo + SEARCH_CHUNK_MS;
    for (const [a, b] of intervals(tf, lo, hi)) {
      const start = Math.max(a, lo);
      const len = Math.min(b, hi) - start;
      if (len <= 0) continue;
      if (len >= left) return start + left;
      left -= len;
      idleSince = hi;
    }
  }
  return Infinity;
}
