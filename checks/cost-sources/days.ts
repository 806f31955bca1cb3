/**
 * UTC calendar days as `YYYY-MM-DD` strings, the unit of every cost query and row. All
 * arithmetic is in UTC: a day never depends on the agent's time zone.
 */

const DAY_MS = 86_400_000;
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The UTC day of an instant (a Date or epoch milliseconds). */
export function utcDay(at: Date | number): string {
  return new Date(typeof at === 'number' ? at : at.getTime()).toISOString().slice(0, 10);
}

/** Whether `s` is a real `YYYY-MM-DD` day (2025-02-30 is not). */
export function isDay(s: string): boolean {
  if (!DAY_RE.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return Number.isFinite(t) && utcDay(t) === s;
}

/** Epoch milliseconds of a day's 00:00 UTC. */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

/** The day `n` days after `day` (before, for negative n). */
export function addDays(day: string, n: number): string {
  return utcDay(dayStart(day) + n * DAY_MS);
}

/** Whole days from `from` to `to` (negative when `to` comes first). */
export function daysBetween(from: string, to: string): number {
  return Math.round((dayStart(to) - dayStart(from)) / DAY_MS);
}

/** Every day in [from, to). */
export function dayRange(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d < to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** Day of the week, 0 = Sunday … 6 = Saturday. */
export function weekday(day: string): number {
  return new Date(dayStart(day)).getUTCDay();
}

/** The month holding `day`: its first day and the first day of the next month, [from, to). */
export function monthBounds(day: string): { from: string; to: string; days: number } {
  const d = new Date(dayStart(day));
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { from: utcDay(from), to: utcDay(to), days: Math.round((to - from) / DAY_MS) };
}
