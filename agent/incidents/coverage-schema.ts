import { z } from 'zod';
import { timeZoneSchema } from './zoned-time';

/*
 * The `coverage:` section: named service timeframes (the hours in which a service is staffed),
 * modelled on Alertmanager's time_intervals. This file parses them; coverage.ts compiles and
 * evaluates them.
 */

const MINUTES_PER_DAY = 1440;

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
