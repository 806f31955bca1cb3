import cron, { type ScheduledTask } from 'node-cron';
import { z } from 'zod';
import { duration } from '../../checks/units';
import { hostTimeZone, timeZoneSchema, tzOffset } from './coverage';

/*
 * Maintenance windows: recurring (cron + duration, read in a time zone) or one-off (start, end),
 * scoped by check-name globs and labels. Inside one, checks still run but no incident opens or
 * pages. Pure: time comes in as epoch milliseconds.
 */

const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * Longest window. `activeRange` looks back over one duration, so this bounds its cost; a
 * maintenance longer than a month is an outage plan, better written as a one-off window.
 */
const MAX_DURATION_MS = 31 * DAY;

/** How far `nextStart` looks ahead: patterns such as "Feb 29 on a Monday" may come later than that. */
const NEXT_START_HORIZON_DAYS = 366 * 10;

/** Window names: they are the `window` label of keepwatch_maintenance_active. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Check-name globs: check-name characters plus the wildcards `*` (any run) and `?` (one character). */
const GLOB_RE = /^[A-Za-z0-9_.*?-]+$/;

const isoTime = z.iso.datetime({
  offset: true,
  error: 'expected an ISO-8601 time with an offset or Z, e.g. 2026-12-01T22:00:00Z',
});

const glob = z.string().regex(GLOB_RE, {
  message: 'check-name globs are letters, digits, _ . - and the wildcards * and ?',
});

/** One `maintenance:` entry: exactly one of cron + duration (recurring) or start + end (one-off). */
export const maintenanceWindowSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME_RE, { message: 'window names are letters, digits and _ . -, starting with a letter or digit' })
      .describe('Unique name; the `window` label of keepwatch_maintenance_active.'),
    cron: z.string().optional().describe('Recurring: when each window opens, node-cron syntax (5 fields, or 6 with seconds first), e.g. "0 2 * * 0". Needs `duration`.'),
    duration: duration({ min: 1000, max: MAX_DURATION_MS }).optional().describe('Recurring: how long each window stays open, e.g. 2h.'),
    timezone: timeZoneSchema.optional().describe('Recurring: IANA time zone the cron is read in (default: the host\'s).'),
    start: isoTime.optional().describe('One-off: when the window opens, ISO-8601 with an offset or Z. Needs `end`.'),
    end: isoTime.optional().describe('One-off: when the window closes (exclusive).'),
    checks: z
      .union([glob, z.array(glob).min(1)], { error: 'expected a check-name glob such as "db-*", or a list of them' })
      .default(['*'])
      .transform((v) => (typeof v === 'string' ? [v] : v))
      .describe('Check-name globs (* and ?); the window applies to a check matching any. Default every check.'),
    labels: z.record(z.string(), z.string()).default({}).describe('Labels a check must all have, with these values, for the window to apply.'),
  })
  .superRefine((w, ctx) => {
    const recurring = w.cron !== undefined || w.duration !== undefined;
    const once = w.start !== undefined || w.end !== undefined;
    const issue = (message: string, path: string[] = []) => ctx.addIssue({ code: 'custom', path, message });
    if (recurring && once) {
      issue('give either cron + duration (recurring) or start + end (one-off), not both');
    } else if (!recurring && !once) {
      issue('a window needs cron + duration (recurring) or start + end (one-off)');
    } else if (recurring) {
      if (w.cron === undefined) {
        issue('duration goes with a cron schedule, e.g. cron: "0 2 * * 0"', ['cron']);
      } else {
        const v = cron.validateDetailed(w.cron);
        if (!v.valid) issue(`invalid cron "${w.cron}": ${v.errors.map((e) => e.message).join('; ')}`, ['cron']);
      }
      if (w.duration === undefined) issue('a cron window needs a duration, e.g. 2h', ['duration']);
    } else {
      if (w.start === undefined) issue('a one-off window needs a start as well as an end', ['start']);
      if (w.end === undefined) issue('a one-off window needs an end as well as a start', ['end']);
      if (w.start !== undefined && w.end !== undefined && Date.parse(w.end) <= Date.parse(w.start)) {
        issue(`end (${w.end}) must be after start (${w.start})`, ['end']);
      }
      // start and end carry their own offsets; a zone here would suggest it changes them.
      if (w.timezone !== undefined) issue('timezone applies to cron windows; start and end carry their own offset', ['timezone']);
    }
  })
  .describe('A maintenance window: checks run and export metrics, but no incident opens or pages.');

/** The `maintenance:` section: windows with unique names. */
export const maintenanceSchema = z
  .array(maintenanceWindowSchema)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((w, i) => {
      const first = seen.get(w.name);
      if (first === undefined) seen.set(w.name, i);
      else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate window name "${w.name}" (first used by maintenance[${first}])` });
    });
  })
  .describe('Maintenance windows: recurring (cron + duration) or one-off (start + end), scoped by check globs and labels.');

/** The parsed `maintenance:` section. */
export type MaintenanceConfig = z.output<typeof maintenanceSchema>;

interface WindowScope {
  readonly name: string;
  /** Check-name globs (`*`, `?`); a check matching any is in scope. */
  readonly checks: readonly string[];
  /** Labels a check must all carry, with these values. */
  readonly labels: Readonly<Record<string, string>>;
}

/** A recurring window: open for `durationMs` from each time the cron matches in `timezone`. */
export interface CronWindow extends WindowScope {
  readonly kind: 'cron';
  readonly cron: string;
  readonly durationMs: number;
  readonly timezone: string;
}

/** A one-off window: open over [start, end). */
export interface OneOffWindow extends WindowScope {
  readonly kind: 'once';
  readonly start: number;
  readonly end: number;
}

/** A compiled maintenance window. Plain data; compiled matchers are cached beside it. */
export type MaintenanceWindow = CronWindow | OneOffWindow;

/** Options for compiling; the zone is injectable so tests do not depend on the host. */
export interface CompileOptions {
  /** Zone of cron windows that name none (default: the host's). */
  timezone?: string;
}

/** Compiles the parsed `maintenance:` section into windows (and warms their matchers). */
export function compileMaintenance(list: MaintenanceConfig | undefined, opts: CompileOptions = {}): MaintenanceWindow[] {
  const tz = opts.timezone ?? hostTimeZone();
  return (list ?? []).map((w) => {
    const scope = { name: w.name, checks: w.checks, labels: w.labels };
    const window: MaintenanceWindow =
      w.cron !== undefined
        ? { ...scope, kind: 'cron', cron: w.cron, durationMs: w.duration as number, timezone: w.timezone ?? tz }
        : { ...scope, kind: 'once', start: Date.parse(w.start as string), end: Date.parse(w.end as string) };
    compiled(window);
    return window;
  });
}

/** What a cron pattern allows, read from node-cron's parse, for walking candidate times. */
interface CronPlan {
  /**
   * node-cron's own matcher, evaluated in UTC: we hand it wall-clock times (a local date and
   * time written as if it were UTC), so it judges the pattern, tokens such as L, W and # included,
   * while the mapping of wall-clock times to instants (and DST) stays ours, shared with coverage.
   */
  readonly matcher: ScheduledTask;
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly months: ReadonlySet<number>;
  /** Days of the month, or undefined when the field has tokens (L, 15W, L-2) only node-cron can judge. */
  readonly daysOfMonth: ReadonlySet<number> | undefined;
  /** Weekdays (0 = Sunday) that can match; for 1#2 or 5L, the weekday part. */
  readonly weekdays: ReadonlySet<number>;
  /** True when the sets above decide a day alone, so node-cron need not be asked. */
  readonly exact: boolean;
}

interface Compiled {
  readonly globs: readonly RegExp[];
  readonly plan?: CronPlan;
}

const compiledCache = new WeakMap<MaintenanceWindow, Compiled>();

/**
 * The name a check was configured with: an expanded check (`disk:/boot`) belongs to its
 * entry (`disk`). Check names cannot contain a colon, so the part before it is the entry.
 */
export function baseName(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(0, i);
}

/** A check-name glob: `*` any run of characters, `?` one; everything else literal. */
export function globToRegExp(g: string): RegExp {
  const body = g.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function compiled(w: MaintenanceWindow): Compiled {
  let c = compiledCache.get(w);
  if (!c) {
    c = { globs: w.checks.map(globToRegExp), plan: w.kind === 'cron' ? planCron(w.cron) : undefined };
    compiledCache.set(w, c);
  }
  return c;
}

function planCron(expr: string): CronPlan {
  const v = cron.validateDetailed(expr);
  if (!v.valid || !v.fields) throw new Error(`invalid cron "${expr}": ${v.errors.map((e) => e.message).join('; ')}`);
  const f = v.fields;
  const matcher = cron.createTask(expr, () => undefined, { timezone: 'UTC' });
  // The task is only a matcher and is never started; destroying it takes it out of node-cron's
  // global task list (getTasks), where config reloads would otherwise pile up dead tasks.
  void matcher.destroy();
  const numeric = (xs: readonly (number | string)[]) => xs.every((x) => typeof x === 'number');
  const asc = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
  return {
    matcher,
    seconds: asc(f.second),
    minutes: asc(f.minute),
    hours: asc(f.hour),
    months: new Set(f.month),
    daysOfMonth: numeric(f.dayOfMonth) ? new Set(f.dayOfMonth as number[]) : undefined,
    weekdays: new Set(f.dayOfWeek.map((x) => (typeof x === 'number' ? x : parseInt(x, 10)) % 7)),
    exact: numeric(f.dayOfMonth) && numeric(f.dayOfWeek),
  };
}

/** Whether wall-clock day `day` (days since 1970-01-01) may match; exact when `plan.exact`. */
function dayMayMatch(plan: CronPlan, day: number): boolean {
  const d = new Date(day * DAY);
  return (
    plan.months.has(d.getUTCMonth() + 1) &&
    (plan.daysOfMonth === undefined || plan.daysOfMonth.has(d.getUTCDate())) &&
    plan.weekdays.has(d.getUTCDay())
  );
}

/** The latest second of the day <= `upper` (seconds after midnight) that the time fields allow; -1 if none. */
function latestTod(plan: CronPlan, upper: number): number {
  const uh = Math.floor(upper / 3600);
  const um = Math.floor((upper % 3600) / 60);
  const us = upper % 60;
  const { hours, minutes, seconds } = plan;
  const lastM = minutes[minutes.length - 1];
  const lastS = seconds[seconds.length - 1];
  for (let i = hours.length - 1; i >= 0; i--) {
    const h = hours[i];
    if (h > uh) continue;
    if (h < uh) return h * 3600 + lastM * 60 + lastS;
    for (let j = minutes.length - 1; j >= 0; j--) {
      const m = minutes[j];
      if (m > um) continue;
      if (m < um) return h * 3600 + m * 60 + lastS;
      for (let k = seconds.length - 1; k >= 0; k--) if (seconds[k] <= us) return h * 3600 + m * 60 + seconds[k];
    }
  }
  return -1;
}

/** The earliest second of the day >= `lower` that the time fields allow; -1 if none. */
function earliestTod(plan: CronPlan, lower: number): number {
  const lh = Math.floor(lower / 3600);
  const lm = Math.floor((lower % 3600) / 60);
  const ls = lower % 60;
  const { hours, minutes, seconds } = plan;
  for (const h of hours) {
    if (h < lh) continue;
    if (h > lh) return h * 3600 + minutes[0] * 60 + seconds[0];
    for (const m of minutes) {
      if (m < lm) continue;
      if (m > lm) return h * 3600 + m * 60 + seconds[0];
      for (const s of seconds) if (s >= ls) return h * 3600 + m * 60 + s;
    }
  }
  return -1;
}

/**
 * The latest wall-clock time (a local epoch in ms, whole seconds) in [lo, hi] that the pattern
 * matches. Walks days backwards; on each day only the latest allowed time is a candidate, since
 * whether a day matches does not depend on the time.
 */
function latestWall(plan: CronPlan, lo: number, hi: number): number | undefined {
  const loS = Math.ceil(lo / 1000);
  const hiS = Math.floor(hi / 1000);
  for (let day = Math.floor(hiS / 86400); day >= Math.floor(loS / 86400); day--) {
    if (!dayMayMatch(plan, day)) continue;
    const base = day * 86400;
    const tod = latestTod(plan, Math.min(hiS - base, 86399));
    if (tod < 0 || base + tod < loS) continue;
    const wall = (base + tod) * 1000;
    if (plan.exact || plan.matcher.match(new Date(wall))) return wall;
  }
  return undefined;
}

/** The earliest wall-clock time in [lo, hi] that the pattern matches. */
function earliestWall(plan: CronPlan, lo: number, hi: number): number | undefined {
  const loS = Math.ceil(lo / 1000);
  const hiS = Math.floor(hi / 1000);
  for (let day = Math.floor(loS / 86400); day <= Math.floor(hiS / 86400); day++) {
    if (!dayMayMatch(plan, day)) continue;
    const base = day * 86400;
    const tod = earliestTod(plan, Math.max(loS - base, 0));
    if (tod < 0 || base + tod > hiS) continue;
    const wall = (base + tod) * 1000;
    if (plan.exact || plan.matcher.match(new Date(wall))) return wall;
  }
  return undefined;
}

/** A stretch [from, to) of instants over which zone's UTC offset is constant. */
interface Segment {
  readonly from: number;
  readonly to: number;
  readonly offset: number;
}

/**
 * Splits [lo, hi) at the zone's offset changes. Samples once a day (zones change at most that
 * often) and bisects to the millisecond where the offset differs, which happens twice a year.
 */
function segments(lo: number, hi: number, tz: string): Segment[] {
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

/*
 * Occurrences of a cron window. An instant s is an occurrence when the zone's wall clock at s
 * matches the pattern (exactly node-cron's `match` in that zone), so a fall-back hour that
 * repeats 02:30 opens the window twice; or when s is the first instant after a spring-forward
 * gap that skipped a matching wall time, so "0 2 * * 0" on the Sunday Berlin jumps from 02:00
 * to 03:00 opens at 03:00 (as system cron runs such jobs) instead of not at all. Both choices
 * err on the side of suppressing pages while someone is working on the system.
 */

/** The occurrence of window `w` containing instant `t` ([start, end), end exclusive), if any. */
export function activeRange(w: MaintenanceWindow, t: number): { start: number; end: number } | undefined {
  if (w.kind === 'once') return w.start <= t && t < w.end ? { start: w.start, end: w.end } : undefined;
  const plan = compiled(w).plan as CronPlan;
  const lo = t - w.durationMs + 1; // an occurrence s contains t when t - duration < s <= t
  // Start one ms early so an offset change exactly at lo shows up as a segment boundary.
  const segs = segments(lo - 1, t + 1, w.timezone);
  for (let i = segs.length - 1; i >= 0; i--) {
    const g = segs[i];
    const a = Math.max(g.from, lo);
    const b = Math.min(g.to - 1, t);
    if (a <= b) {
      const wall = latestWall(plan, a + g.offset, b + g.offset);
      if (wall !== undefined) return { start: wall - g.offset, end: wall - g.offset + w.durationMs };
    }
    const prev = segs[i - 1];
    if (prev && prev.offset < g.offset && g.from >= lo && latestWall(plan, g.from + prev.offset, g.from + g.offset - 1) !== undefined) {
      return { start: g.from, end: g.from + w.durationMs };
    }
  }
  return undefined;
}

/**
 * When window `w` next opens after instant `t`: the next occurrence start > t, or undefined
 * for a one-off window that has begun and a pattern with no match within ten years.
 */
export function nextStart(w: MaintenanceWindow, t: number): number | undefined {
  if (w.kind === 'once') return w.start > t ? w.start : undefined;
  const plan = compiled(w).plan as CronPlan;
  for (let n = 0, c = t + 1; n < NEXT_START_HORIZON_DAYS; n++, c += DAY) {
    // Wall clocks lie within -12 h..+14 h of the instant: skip days the pattern cannot match
    // without asking Intl for offsets, so a yearly pattern costs little.
    let maybe = false;
    for (let day = Math.floor((c - 12 * HOUR) / DAY); day <= Math.floor((c + DAY + 14 * HOUR) / DAY) && !maybe; day++) {
      maybe = dayMayMatch(plan, day);
    }
    if (!maybe) continue;
    const segs = segments(c - 1, c + DAY, w.timezone);
    for (let i = 0; i < segs.length; i++) {
      const g = segs[i];
      const prev = segs[i - 1];
      if (prev && prev.offset < g.offset && g.from >= c && earliestWall(plan, g.from + prev.offset, g.from + g.offset - 1) !== undefined) {
        return g.from;
      }
      const a = Math.max(g.from, c);
      if (a <= g.to - 1) {
        const wall = earliestWall(plan, a + g.offset, g.to - 1 + g.offset);
        if (wall !== undefined) return wall - g.offset;
      }
    }
  }
  return undefined;
}

/** Whether window `w` covers the check: its name matches one of the globs and it carries every label of the window. */
export function appliesTo(w: MaintenanceWindow, checkName: string, labels: Readonly<Record<string, string>> = {}): boolean {
  // An expanded check (disk:/boot) is in scope by its own name or its entry's (disk).
  const base = baseName(checkName);
  if (!compiled(w).globs.some((re) => re.test(checkName) || re.test(base))) return false;
  return Object.entries(w.labels).every(([k, v]) => labels[k] === v);
}

/**
 * The windows open at instant `t` that cover the check. With `anyCheck`, scope is ignored:
 * the windows open at `t` at all (for the keepwatch_maintenance_active gauge).
 */
export function activeWindows(
  windows: readonly MaintenanceWindow[],
  t: number,
  checkName: string,
  labels: Readonly<Record<string, string>> = {},
  anyCheck = false,
): MaintenanceWindow[] {
  return windows.filter((w) => (anyCheck || appliesTo(w, checkName, labels)) && activeRange(w, t) !== undefined);
}
