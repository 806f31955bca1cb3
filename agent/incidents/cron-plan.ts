import cron, { type ScheduledTask } from 'node-cron';

/*
 * Walking a cron pattern's matches over wall-clock time (local epochs: a local date and time
 * written as if it were UTC). Zones and DST are the caller's business (maintenance.ts), so
 * this file knows only days, hours, minutes and seconds.
 */

const DAY = 86_400_000;

/** What a cron pattern allows, read from node-cron's parse, for walking candidate times. */
export interface CronPlan {
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

/** Reads a cron pattern into a {@link CronPlan}; throws on one the schema would have refused. */
export function planCron(expr: string): CronPlan {
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
export function dayMayMatch(plan: CronPlan, day: number): boolean {
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
export function latestWall(plan: CronPlan, lo: number, hi: number): number | undefined {
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
export function earliestWall(plan: CronPlan, lo: number, hi: number): number | undefined {
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
