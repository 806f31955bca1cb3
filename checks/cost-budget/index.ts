import { z } from 'zod';
import { costColumnSchema, currencyCode, sourceSchema } from '../cost-sources';
import { budgetObservation, budgetWindow, costFilterKeys, providerForecast, queryFilter, sourceOf } from '../cost-sources/budget';
import { currentMonth, RATE_DAYS } from '../cost-sources/month';
import type { CostQuery } from '../cost-sources/types';
import { defineCheck, duration, type FieldSpec } from '../types';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 86_400_000;

const schema = z.strictObject({
  source: sourceSchema,
  budget: z.number().positive().describe('The budget for a calendar month (UTC), in the data\'s currency.'),
  currency: currencyCode()
    .optional()
    .describe('The currency the budget is in (ISO 4217); data in another one is refused rather than compared. Default: the currency of the data, which every message shows.'),
  costColumn: costColumnSchema,
  ...costFilterKeys,
  staleAfter: duration({ min: DAY })
    .default(3 * DAY)
    .describe('How many complete days may be missing at the end of the data (exports lag a day or two) before the run is unknown instead of forecasting over the gap (default 3d).'),
});

const amount = (help: string): FieldSpec => ({ type: 'number', unit: 'none', help });
const ratio = (help: string): FieldSpec => ({ type: 'number', unit: 'none', help });

const fields: Record<string, FieldSpec> = {
  spend: amount('Spend this month so far (UTC), in currency: every amount dated in the month, today\'s partial one included'),
  forecast: amount(`The month's total at the trailing run rate: the complete days so far plus the average of the last ${RATE_DAYS} complete days for every day still to come (and those the export has not caught up with)`),
  providerForecast: amount('Spend so far plus the provider\'s own forecast of the rest of the month (today to the month\'s end); absent when the source has none'),
  budget: amount('The configured monthly budget'),
  spendRatio: ratio('spend / budget (1 = the whole budget spent)'),
  forecastRatio: ratio('forecast / budget (above 1: the month will end over budget at the current rate)'),
  providerForecastRatio: ratio('providerForecast / budget; absent without a provider forecast'),
  runRate: amount(`Average daily spend of the last ${RATE_DAYS} complete days with data`),
  daysLeft: { type: 'number', unit: 'days', help: 'Days of the month not over yet, today included (1 on the last day)' },
  dataLagDays: { type: 'number', unit: 'days', help: 'Complete days missing at the end of the data (0 when yesterday is there); the forecast covers them at the run rate' },
  currency: { type: 'string', help: 'ISO 4217 code of every amount' },
};

/** Watches a month's spend against a budget: month to date, a run-rate forecast (and the provider's, where it has one), days left. */
export const costBudgetCheck = defineCheck({
  type: 'cost-budget',
  category: 'cost',
  // Cost data changes once a day or so; sources cache what they fetch (Cost Explorer is billed per call).
  schedule: { every: HOUR, timeout: 2 * MINUTE },
  summary: 'Month-to-date spend against a monthly budget, a trailing run-rate forecast (and the provider\'s forecast where the source has one), from a FOCUS export, OpenCost or AWS Cost Explorer.',
  schema,
  fields,
  // Over budget by the month's end at the current rate is worth a ticket while there is time
  // to act; actual spend past the budget is the money already gone.
  defaults: { warn: ['forecastRatio > 1'], crit: ['spendRatio > 1'] },
  async run({ spec, signal, now, log, state }) {
    const at = now();
    const month = currentMonth(at);
    const source = sourceOf(spec.source, { state, now });
    const filter = queryFilter(spec);
    const window = budgetWindow(month, spec.staleAfter);
    const query: CostQuery = { ...window, groupBy: 'none', filter, costColumn: spec.costColumn };
    const rows = await source.daily(query, signal);
    const provider = await providerForecast(source, { from: month.today, to: month.to, groupBy: 'none', filter, costColumn: spec.costColumn }, signal, log);
    return budgetObservation(rows, at, spec, provider, source.fetchedAt?.(query));
  },
});

