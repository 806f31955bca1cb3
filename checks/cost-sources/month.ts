import { addDays, daysBetween, monthBounds, utcDay } from './days';
import { MixedCurrencyError, type DailyCost } from './types';

/** How many complete days the trailing run rate averages. */
export const RATE_DAYS = 7;

/**
 * The calendar month an instant falls in, in UTC: cost exports date their charges in UTC
 * (FOCUS ChargePeriodStart, Cost Explorer's TimePeriod), so a month in another time zone
 * would cut days in two.
 */
export interface CurrentMonth {
  /** The UTC day of the instant. */
  today: string;
  /** The 1st of the month. */
  from: string;
  /** The 1st of the next month (excluded). */
  to: string;
  daysInMonth: number;
  /** Days not over yet, today included: 1 on the last day of the month. */
  daysLeft: number;
}

/** The UTC month around `nowMs`. */
export function currentMonth(nowMs: number): CurrentMonth {
  const today = utcDay(nowMs);
  const { from, to, days } = monthBounds(today);
  return { today, from, to, daysInMonth: days, daysLeft: daysBetween(today, to) };
}

/** What the budget check makes of a month's daily costs, before judging them against a budget. */
export interface MonthFigures {
  month: CurrentMonth;
  /** The one currency of the rows (undefined when there are none). */
  currency?: string;
  /** Month to date: every amount dated in the month, today's partial one included. */
  spend: number;
  /** The average daily amount of the last {@link RATE_DAYS} complete days with data (fewer when the data starts later). */
  runRate: number;
  /** The first and last day the run rate averages; undefined when no complete day has data. */
  rateFrom?: string;
  rateTo?: string;
  /**
   * The month's total at the run rate: the complete days' amounts so far, plus the run rate for
   * every day after the last one with data (today, the rest of the month, and the days the
   * export has not caught up with yet). Never below `spend`.
   */
  forecast: number;
  /** Days the forecast estimates at the run rate. */
  forecastDays: number;
  /** The last complete day (before today) with any data. */
  through?: string;
  /** Complete days missing at the end of the data: 0 when yesterday is there (exports lag a day or two). */
  lagDays: number;
}

/**
 * Month-to-date spend and the trailing run-rate forecast of a month, from daily rows that
 * cover the month so far and at least the {@link RATE_DAYS} days before the last complete one
 * (they may reach back into the previous month: on the 1st no day of the month is complete,
 * and the rate of the last week of the month before is all there is). Rows of every group add
 * up; rows after the month are ignored; negative rows (refunds, corrections) count.
 */
export function monthFigures(rows: readonly DailyCost[], nowMs: number): MonthFigures {
  const month = currentMonth(nowMs);
  const currencies = [...new Set(rows.map((r) => r.currency))];
  if (currencies.length > 1) throw new MixedCurrencyError(currencies, 'cost data');
  const byDay = new Map<string, number>();
  for (const r of rows) byDay.set(r.day, (byDay.get(r.day) ?? 0) + r.amount);
  const days = [...byDay.keys()].sort();
  let spend = 0;
  for (const [day, amount] of byDay) if (day >= month.from && day < month.to) spend += amount;

  const complete = days.filter((d) => d < month.today);
  const through = complete.at(-1);
  if (through === undefined) {
    return { month, currency: currencies[0], spend, runRate: 0, forecast: spend, forecastDays: month.daysInMonth, lagDays: 0 };
  }
  // Days without rows inside the window are days without charges: they count as zero.
  const rateFrom = [addDays(through, 1 - RATE_DAYS), complete[0]].sort().at(-1) as string;
  let rateSum = 0;
  for (const d of complete) if (d >= rateFrom) rateSum += byDay.get(d) as number;
  const runRate = rateSum / (daysBetween(rateFrom, through) + 1);

  let completeSpend = 0;
  for (const d of complete) if (d >= month.from) completeSpend += byDay.get(d) as number;
  const covered = through >= month.from ? daysBetween(month.from, through) + 1 : 0;
  const forecastDays = month.daysInMonth - covered;
  const forecast = Math.max(spend, completeSpend + runRate * forecastDays);
  const lagDays = Math.max(0, daysBetween(through, addDays(month.today, -1)));
  return { month, currency: currencies[0], spend, runRate, rateFrom, rateTo: through, forecast, forecastDays, through, lagDays };
}

/** An amount as people read one: grouped thousands, no cents from 100 up (`8,412`, `51.14`, `-3.20`). */
export function formatAmount(amount: number): string {
  const digits = Math.abs(amount) >= 100 ? 0 : 2;
  return amount.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio as a whole percentage (`84%`); `-` for an undefined one. */
export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '-' : `${Math.round(ratio * 100)}%`;
}
