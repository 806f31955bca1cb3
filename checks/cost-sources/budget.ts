import { z } from 'zod';
import { formatDuration, round, type CheckLogger, type Observation, type Value } from '../types';
import { addDays } from './days';
import { sourceFor, type SourceOptions, type SourceSpec } from './index';
import { currentMonth, formatAmount, formatRatio, monthFigures, RATE_DAYS, type CurrentMonth, type MonthFigures } from './month';
import type { CostForecast, CostQuery, CostSource, DailyCost } from './types';

/*
 * What the cost checks (cost-budget, cost-anomaly) and `keepwatch cost` share: the filter keys
 * and the query they make, one adapter per source block, and a budget's figures and verdict.
 */

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** What a budget needs of its check's config. */
export interface BudgetSpec {
  source: SourceSpec;
  budget: number;
  currency?: string;
  costColumn: 'effective' | 'billed';
  staleAfter: number;
  service?: readonly string[];
  account?: readonly string[];
  namespace?: readonly string[];
  tags?: Readonly<Record<string, string>>;
}

/** One name or a list of them: any of them matches. */
const names = (what: string) =>
  z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .transform((v) => (typeof v === 'string' ? [v] : v))
    .optional()
    .describe(`Only costs of this ${what} (or any of a list), exact names as the source reports them.`);

/** The filter keys every cost check may take: they become the query's `filter`. */
export const costFilterKeys = {
  service: names('service (FOCUS ServiceName, Cost Explorer SERVICE)'),
  account: names('account (FOCUS SubAccountId, Cost Explorer LINKED_ACCOUNT)'),
  namespace: names('Kubernetes namespace (OpenCost)'),
  tags: z
    .record(z.string().min(1), z.string())
    .optional()
    .describe('Only costs carrying every one of these tags with these values (FOCUS Tags, Cost Explorer TAG, OpenCost labels).'),
};

/** The filter part of a cost check's query, from its `service`, `account`, `namespace` and `tags` keys. */
export function queryFilter(spec: { service?: readonly string[]; account?: readonly string[]; namespace?: readonly string[]; tags?: Readonly<Record<string, string>> }): CostQuery['filter'] {
  const filter: NonNullable<CostQuery['filter']> = {};
  if (spec.service) filter.service = spec.service;
  if (spec.account) filter.account = spec.account;
  if (spec.namespace) filter.namespace = spec.namespace;
  if (spec.tags && Object.keys(spec.tags).length) filter.tags = spec.tags;
  return Object.keys(filter).length ? filter : undefined;
}

/** The filter in words, short and stable: `all`, `service=AmazonEC2`, `account=111,222 tag:env=prod`. */
export function scopeText(filter: CostQuery['filter']): string {
  if (!filter) return 'all';
  const parts: string[] = [];
  for (const key of ['service', 'account', 'namespace'] as const) if (filter[key]) parts.push(`${key}=${filter[key].join(',')}`);
  for (const [k, v] of Object.entries(filter.tags ?? {})) parts.push(`tag:${k}=${v}`);
  return parts.join(' ');
}

/**
 * The days a budget query covers: the month so far and, before it, enough days for the run
 * rate even when the export lags by up to `staleAfter` (on the 1st, the run rate is last
 * month's). To the month's end: rows dated later in the month (a monthly fee dated ahead) count.
 */
export function budgetWindow(month: CurrentMonth, staleAfterMs: number): { from: string; to: string } {
  const back = addDays(month.today, -(RATE_DAYS + 1 + Math.ceil(staleAfterMs / DAY)));
  return { from: back < month.from ? back : month.from, to: month.to };
}

// One adapter per configured block: the agent hands a check the same frozen spec every run, so
// an adapter's own cache (parsed files, Cost Explorer answers) outlives the run.
const sources = new WeakMap<object, CostSource>();

/**
 * The adapter for a check's `source:` block, made once per block. `options.state` (the check's
 * `ctx.state`) lets the aws source keep its Cost Explorer answers and call count across restarts.
 */
export function sourceOf(spec: SourceSpec, options: SourceOptions = {}): CostSource {
  let source = sources.get(spec);
  if (!source) sources.set(spec, (source = sourceFor(spec, options)));
  return source;
}

/**
 * A budget check's observation from the rows of its query (any grouping: they add up) and the
 * provider's forecast: refuses no data, data in another currency than the budget's, and data
 * that stopped more than `staleAfter` ago (pure). `fetchedAt`: when a caching source fetched the rows.
 */
export function budgetObservation(
  rows: readonly DailyCost[],
  nowMs: number,
  spec: Pick<BudgetSpec, 'source' | 'budget' | 'currency' | 'costColumn' | 'staleAfter' | 'service' | 'account' | 'namespace' | 'tags'>,
  provider?: CostForecast | { error: string },
  fetchedAt?: number,
): Observation {
  const month = currentMonth(nowMs);
  const filter = queryFilter(spec);
  if (!rows.some((r) => r.day < month.to)) {
    const { from } = budgetWindow(month, spec.staleAfter);
    throw new Error(`no cost data from ${from} to ${month.today} (${scopeText(filter)}, ${spec.source.type} source): check the filter values and the source`);
  }
  const figures = monthFigures(rows, nowMs);
  const currency = figures.currency as string;
  if (spec.currency && currency !== spec.currency) {
    throw new Error(`the cost data is in ${currency} and the budget in ${spec.currency}: amounts in different currencies are never compared (select the ${spec.currency} data in the source, or set currency: ${currency})`);
  }
  if (figures.lagDays * DAY > spec.staleAfter) {
    throw new Error(`cost data ends on ${figures.through}, ${figures.lagDays} complete days missing (staleAfter ${formatDuration(spec.staleAfter)}): is the export still being written?`);
  }
  if (provider && 'amount' in provider && provider.currency !== currency) {
    throw new Error(`the provider forecast is in ${provider.currency} and the cost data in ${currency}: amounts in different currencies are never added`);
  }
  const observation = assessBudget(figures, spec, provider);
  // A source that serves cached answers between its calls (aws: Cost Explorer bills each) says
  // when it asked; an answer an hour old or more is said, so a figure is not read as live.
  if (fetchedAt !== undefined && nowMs - fetchedAt >= HOUR) {
    observation.message += `; ${spec.source.type} answer from ${formatDuration(Math.floor((nowMs - fetchedAt) / MINUTE) * MINUTE)} ago (cached)`;
  }
  const { spend, forecast, budget } = observation.values as Record<string, number>;
  return { ...observation, cost: { source: spec.source.type, scope: scopeText(filter), currency, spend, forecast, budget } };
}

/**
 * The provider's forecast of [today, month end), or why there is none. A forecast the provider
 * cannot make (a new account: not enough history) leaves the run-rate forecast to stand alone.
 */
export async function providerForecast(source: CostSource, query: CostQuery, signal: AbortSignal, log: CheckLogger): Promise<CostForecast | { error: string } | undefined> {
  if (!source.forecast) return undefined;
  try {
    return await source.forecast(query, signal);
  } catch (err) {
    signal.throwIfAborted();
    log.warn({ err }, 'provider forecast failed');
    return { error: (err as Error).message };
  }
}

/** Judges a month's figures against the budget: the values and the message (pure). */
export function assessBudget(figures: MonthFigures, spec: Pick<BudgetSpec, 'budget' | 'costColumn'>, provider?: CostForecast | { error: string }): Observation {
  const currency = figures.currency ?? '';
  const { spend, forecast, runRate, lagDays } = figures;
  const values: Record<string, Value> = {
    spend: round(spend, 2),
    forecast: round(forecast, 2),
    budget: spec.budget,
    spendRatio: round(spend / spec.budget, 4),
    forecastRatio: round(forecast / spec.budget, 4),
    runRate: round(runRate, 2),
    daysLeft: figures.month.daysLeft,
    dataLagDays: lagDays,
    currency,
  };
  const left = figures.month.daysLeft;
  let message = `${currency} ${formatAmount(spend)} spent of ${formatAmount(spec.budget)} (${formatRatio(spend / spec.budget)}), ` +
    `forecast ${formatAmount(forecast)} (${formatRatio(forecast / spec.budget)}) with ${left} day${left === 1 ? '' : 's'} left`;
  if (provider && 'amount' in provider) {
    const total = spend + provider.amount;
    values.providerForecast = round(total, 2);
    values.providerForecastRatio = round(total / spec.budget, 4);
    message += `; provider forecast ${formatAmount(total)} (${formatRatio(total / spec.budget)})`;
  } else if (provider) {
    message += `; no provider forecast (${provider.error})`;
  }
  if (spec.costColumn === 'billed') message += '; billed cost';
  if (figures.through === undefined) {
    message += '; no complete day with data yet: the forecast is the spend so far';
  } else if (figures.through < figures.month.from) {
    message += `; no complete day this month yet: forecast at the run rate of ${figures.rateFrom}..${figures.rateTo} (${currency} ${formatAmount(runRate)}/day)`;
  }
  if (lagDays > 0 && figures.through !== undefined) {
    message += `; data through ${figures.through}, ${lagDays} day${lagDays === 1 ? '' : 's'} behind (exports lag): forecast at the run rate`;
  }
  return { values, message };
}
