import { dayMayMatch, earliestWall, latestWall, planCron, type CronPlan } from './cron-plan';
import type { MaintenanceConfig } from './maintenance-schema';
import { offsetSegments } from './zoned-time';

/*
 * Maintenance windows: recurring (cron + duration, read in a time zone) or one-off (start, end),
 * scoped by check-name globs and labels. Inside one, checks still run but no incident opens or
 * pages. Pure: time comes in as epoch milliseconds and the host's zone as an argument.
 * maintenance-schema.ts parses the section; cron-plan.ts walks a pattern's wall-clock matches.
 */

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** How far `nextStart` looks ahead: patterns such as "Feb 29 on a Monday" may come later than that. */
const NEXT_START_HORIZON_DAYS = 366 * 10;

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

/**
 * Options for compiling. The zone is passed in, never read here: the config loader reads the
 * host's once, and tests name one so none depends on the machine.
 */
export interface CompileOptions {
  /** Zone of cron windows that name none (the config loader passes the host's). */
  timezone: string;
}

/** Compiles the parsed `maintenance:` section into windows (and warms their matchers). */
export function compileMaintenance(list: MaintenanceConfig | undefined, opts: CompileOptions): MaintenanceWindow[] {
  const tz = opts.timezone;
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
  const segs = offsetSegments(lo - 1, t + 1, w.timezone);
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
    const segs = offsetSegments(c - 1, c + DAY, w.timezone);
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

/** Which windows are open at `now`, and which checks they cover (for the maintenance gauges). */
export function maintenanceNow(
  windows: readonly MaintenanceWindow[],
  checks: Iterable<{ name: string; labels: Readonly<Record<string, string>> }>,
  now: number,
): { windows: Array<{ name: string; active: boolean }>; covered: string[] } {
  const open = windows.filter((w) => activeRange(w, now) !== undefined);
  const covered: string[] = [];
  if (open.length) for (const c of checks) if (activeWindows(open, now, c.name, c.labels).length) covered.push(c.name);
  return { windows: windows.map((w) => ({ name: w.name, active: open.includes(w) })), covered };
}
