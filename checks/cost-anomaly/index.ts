import { z } from 'zod';
import { costFilterKeys, queryFilter, scopeText, sourceOf } from '../cost-sources/budget';
import { formatAmount } from '../cost-sources/month';
import { costColumnSchema, currencyCode, sourceSchema } from '../cost-sources';
import { addDays, utcDay } from '../cost-sources/days';
import type { CostQuery, DailyCost } from '../cost-sources/types';
import { PERCENT_RE, parsePercent } from '../units';
import { defineCheck, duration, formatDuration, round, type FieldSpec, type Finding, type Observation, type Value } from '../types';
import { detect, type DetectOptions, type Detection, type Judgement } from './detect';

export { baselineFor, detect, judge, madFloor, type DetectOptions, type Detection, type Judgement } from './detect';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The least |score| of an anomaly, and so the warn level. Measured on generated exports (see the
 * README): at 4, precision 0.986 and recall 0.973 over 100 seeds; lower lets in days of extreme
 * noise just over the relative floor, higher loses spikes on noisy series.
 */
export const WARN_SCORE = 4;
/** The score from which an increase is critical (and its finding high): no false alarm measured came near it. */
export const CRIT_SCORE = 8;

const wholeDays = (what: string, min: number, max: number, dflt: number) =>
  duration({ min: min * DAY, max: max * DAY })
    .refine((ms) => ms % DAY === 0, { message: 'must be a whole number of days, such as 14d' })
    .default(dflt * DAY)
    .describe(what);

/** A percentage that may pass 100 (`150%`): a relative change, not a share. */
const changePct = z
  .union([z.number().min(0).max(10_000), z.string().regex(PERCENT_RE, { message: 'expected a percentage such as 20%' })])
  .transform((v) => (typeof v === 'number' ? v : (parsePercent(v) as number)));

const groupBy = z
  .union([z.enum(['service', 'account', 'namespace', 'none']), z.strictObject({ tag: z.string().min(1).describe('The tag (label) whose value groups the costs.') })])
  .default('service')
  .describe('What each daily series is: a service (default), an account, a Kubernetes namespace, a tag\'s value ({ tag: team }), or none (the total).');

const schema = z.strictObject({
  source: sourceSchema,
  groupBy,
  costColumn: costColumnSchema,
  currency: currencyCode()
    .optional()
    .describe('The currency minDelta is in (ISO 4217); data in another one is refused rather than compared. Default: the data\'s own, which every message shows.'),
  ...costFilterKeys,
  baseline: wholeDays('The trailing window the weekday/weekend class (and, with too few of those, every day) is taken from (default 14d, whole days, 7d to 90d).', 7, 90, 14),
  weeks: z
    .number()
    .int()
    .min(0)
    .max(12)
    .default(4)
    .describe('How many past same weekdays (7, 14 … days back) make the baseline when at least 3 have data: a Saturday against past Saturdays (default 4; 0 compares with the weekday/weekend class only).'),
  lag: wholeDays('How many days the judged day is behind today (UTC): 1d (default) judges yesterday, the last complete day; 2d for an export that lands a day late.', 1, 7, 1),
  minDelta: z
    .number()
    .min(0)
    .default(50)
    .describe('The least change from the baseline, in the currency, that can be an anomaly (default 50): below it a change never counts, whatever its score.'),
  minDeltaPct: changePct
    .default(20)
    .describe('The least change from the baseline, in percent of it, that can be an anomaly (default 20%): a large service\'s everyday noise is large in money.'),
  minScore: z
    .number()
    .positive()
    .default(WARN_SCORE)
    .describe(`The least robust score, |actual − median| / (1.4826 × MAD), that makes an anomaly (default ${WARN_SCORE}).`),
  drops: z.boolean().default(false).describe('Whether drops below the baseline are anomalies too (default false: increases only).'),
  staleAfter: duration({ min: DAY })
    .default(3 * DAY)
    .describe('How long without any cost data (up to today) before the run is unknown rather than ok: an export that stopped is not a quiet week (default 3d).'),
});

type AnomalySpec = z.output<typeof schema>;

const amount = (help: string): FieldSpec => ({ type: 'number', unit: 'none', help });

const fields: Record<string, FieldSpec> = {
  anomalies: { type: 'number', unit: 'count', help: 'Groups whose spend on the judged day is an anomaly (over both floors and minScore)' },
  score: amount('Robust score of the worst offender, the group over both floors with the highest |score|: (actual − median) / (1.4826 × MAD), negative for a drop; 0 when no group is over the floors'),
  deltaAbs: amount('The worst offender\'s change from its baseline (actual − median), in currency; 0 when none'),
  deltaPct: { type: 'number', unit: 'percent', help: 'The worst offender\'s change in percent of its baseline; absent when the baseline is 0 (new spend), 0 when none' },
  actual: amount('The worst offender\'s spend on the judged day, in currency; absent when none'),
  expected: amount('The worst offender\'s baseline (median), in currency; absent when none'),
  group: { type: 'string', help: 'The worst offender: a service, account, namespace or tag value; absent when none' },
  spend: amount('Spend on the judged day, every group (judged or too new to be) summed, in currency'),
  day: { type: 'string', help: 'The judged day (YYYY-MM-DD, UTC): today minus lag' },
  currency: { type: 'string', help: 'ISO 4217 code of every amount' },
};

/** The options `detect` takes, from the check's keys. */
export function detectOptions(spec: Pick<AnomalySpec, 'baseline' | 'weeks' | 'minDelta' | 'minDeltaPct' | 'minScore' | 'drops'>): DetectOptions {
  return { baselineDays: spec.baseline / DAY, weeks: spec.weeks, minPoints: 3, minDelta: spec.minDelta, minDeltaPct: spec.minDeltaPct, minScore: spec.minScore, drops: spec.drops };
}

/** The days a run asks for: the longest baseline back from the judged day, through the day itself. */
export function anomalyWindow(day: string, opts: DetectOptions): { from: string; to: string } {
  return { from: addDays(day, -Math.max(opts.baselineDays, 7 * opts.weeks)), to: addDays(day, 1) };
}

/** Flags a day's spend per service (account, namespace, tag) far from its own trailing, weekday-aware baseline. */
export const costAnomalyCheck = defineCheck({
  type: 'cost-anomaly',
  category: 'cost',
  // Cost data changes once a day; sources cache what they fetch (Cost Explorer is billed per call).
  schedule: { every: HOUR, timeout: 2 * MINUTE },
  summary: 'Daily spend per service, account, namespace or tag against its trailing baseline (median and MAD, weekday-aware), with absolute and relative floors, from a FOCUS export, OpenCost or AWS Cost Explorer.',
  schema,
  fields,
  // An anomaly is a ticket: someone should look today. A score this far out is money leaking
  // fast (a spike of several times the usual spend): worth the on-call's attention.
  defaults: { warn: ['anomalies > 0'], crit: [`score >= ${CRIT_SCORE}`] },
  async run({ spec, signal, now, state }) {
    const at = now();
    const today = utcDay(at);
    const day = addDays(today, -spec.lag / DAY);
    const opts = detectOptions(spec);
    const filter = queryFilter(spec);
    const { from } = anomalyWindow(day, opts);
    // Through today: rows after the judged day tell an export that is alive from one that stopped.
    const source = sourceOf(spec.source, { state, now });
    const query: CostQuery = { from, to: addDays(today, 1), groupBy: spec.groupBy, filter, costColumn: spec.costColumn };
    const rows = await source.daily(query, signal);
    const scope = scopeText(filter);
    const last = rows.reduce<string | undefined>((m, r) => (m === undefined || r.day > m ? r.day : m), undefined);
    if (last === undefined) throw new Error(`no cost data from ${from} to ${today} (${scope}, ${spec.source.type} source): check the filter values and the source`);
    if (Date.parse(`${today}T00:00:00Z`) - Date.parse(`${last}T00:00:00Z`) > spec.staleAfter) {
      throw new Error(`cost data ends on ${last}, more than ${formatDuration(spec.staleAfter)} ago (staleAfter): is the export still being written?`);
    }
    const currency = rows[0].currency;
    if (spec.currency && currency !== spec.currency) {
      throw new Error(`the cost data is in ${currency} and minDelta in ${spec.currency}: amounts in different currencies are never compared (select the ${spec.currency} data in the source, or set currency: ${currency})`);
    }
    const observation = assessAnomalies(detect(rows, day, opts), { ...spec, currency });
    const fetchedAt = source.fetchedAt?.(query);
    if (fetchedAt !== undefined && at - fetchedAt >= HOUR) {
      observation.message += `; ${spec.source.type} answer from ${formatDuration(Math.floor((at - fetchedAt) / MINUTE) * MINUTE)} ago (cached)`;
    }
    const spend = observation.values.spend as number;
    const onDay = dayTotals(rows, day);
    return {
      ...observation,
      cost: {
        source: spec.source.type,
        scope,
        currency,
        ...(onDay.size ? { spend, anomalyScore: observation.values.score as number, groups: [...onDay].map(([group, s]) => ({ group, spend: round(s, 2) })) } : {}),
      },
    };
  },
});

function dayTotals(rows: readonly DailyCost[], day: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const r of rows) if (r.day === day) totals.set(r.group, (totals.get(r.group) ?? 0) + r.amount);
  return totals;
}

const signed = (n: number) => `${n >= 0 ? '+' : '−'}${formatAmount(Math.abs(n))}`;

const BASELINE_WORDS: Record<Judgement['kind'], (j: Judgement) => string> = {
  weekday: (j) => `median of the last ${j.points} ${new Date(`${j.day}T00:00:00Z`).toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' })}s`,
  class: (j) => `median of the ${j.points} ${isWeekendDay(j.day) ? 'weekend' : 'week'} days before`,
  all: (j) => `median of the ${j.points} days before`,
};

function isWeekendDay(day: string): boolean {
  const wd = new Date(`${day}T00:00:00Z`).getUTCDay();
  return wd === 0 || wd === 6;
}

/** `USD 1,400 (+140%)`, or `USD 1,400 (new spend)` when the baseline is 0. */
function deltaText(j: Judgement, currency: string): string {
  return `${currency} ${signed(j.deltaAbs)} (${j.deltaPct === undefined ? 'new spend' : `${j.deltaPct >= 0 ? '+' : '−'}${Math.round(Math.abs(j.deltaPct))}%`})`;
}

/** Judges a detection: values, findings and the message (pure). */
export function assessAnomalies(d: Detection, spec: Pick<AnomalySpec, 'groupBy' | 'costColumn' | 'minDelta' | 'minDeltaPct' | 'minScore'> & { currency: string }): Observation {
  const { currency } = spec;
  const what = typeof spec.groupBy === 'object' ? `${spec.groupBy.tag} tag value` : spec.groupBy === 'none' ? 'total' : spec.groupBy;
  const anomalies = d.judged.filter((j) => j.anomaly);
  const worst = d.judged.find((j) => j.overFloors);
  const { spend } = d;
  const values: Record<string, Value> = { anomalies: anomalies.length, score: 0, deltaAbs: 0, deltaPct: 0, spend: round(spend, 2), day: d.day, currency };
  if (worst) {
    values.score = round(worst.score, 2);
    values.deltaAbs = round(worst.deltaAbs, 2);
    if (worst.deltaPct === undefined) delete values.deltaPct;
    else values.deltaPct = round(worst.deltaPct, 1);
    values.actual = round(worst.actual, 2);
    values.expected = round(worst.median, 2);
    values.group = worst.group;
  }
  const findings: Finding[] = anomalies.map((j) => finding(j, what, currency));
  const learning = d.learning.length ? `; ${d.learning.length} ${what === 'total' ? 'series' : what}${d.learning.length === 1 ? '' : 's'} too new for a baseline (${d.learning.slice(0, 5).join(', ')}${d.learning.length > 5 ? ' …' : ''})` : '';
  const billed = spec.costColumn === 'billed' ? '; billed cost' : '';
  let message: string;
  if (!d.hasData) {
    message = `no cost data for ${d.day} yet (exports lag; raise lag if this one always does): nothing to judge`;
  } else if (!d.judged.length) {
    message = `no ${what} with enough history to judge on ${d.day}${learning}${billed}`;
  } else if (anomalies.length) {
    const list = anomalies.slice(0, 3).map((j) => `${j.group} ${currency} ${formatAmount(j.actual)} against ${formatAmount(j.median)} (${BASELINE_WORDS[j.kind](j)}), ${deltaText(j, currency)}, score ${round(j.score, 1)}`);
    message = `${anomalies.length} cost anomal${anomalies.length === 1 ? 'y' : 'ies'} on ${d.day}: ${list.join('; ')}${anomalies.length > 3 ? `; and ${anomalies.length - 3} more` : ''}${learning}${billed}`;
  } else {
    const top = worst ?? d.judged[0];
    message = `no cost anomaly on ${d.day} in ${d.judged.length} ${what}${d.judged.length === 1 ? '' : 's'} (${currency} ${formatAmount(spend)} spent); ` +
      `highest score ${top.group} ${deltaText(top, currency)}, score ${round(top.score, 1)}` +
      `${worst ? ` (under minScore ${spec.minScore})` : ` (under the floors: ${currency} ${spec.minDelta} and ${spec.minDeltaPct}%)`}${learning}${billed}`;
  }
  return { values, message, findings };
}

function finding(j: Judgement, what: string, currency: string): Finding {
  const up = j.deltaAbs > 0;
  return {
    id: `cost-anomaly.${j.group}.${j.day}`,
    // Severity by score: an increase far out (several times the usual spend) is high; a drop
    // saves money, but may mean something stopped working: worth a look, not a page.
    severity: up ? (j.score >= CRIT_SCORE ? 'high' : 'medium') : j.score <= -CRIT_SCORE ? 'medium' : 'low',
    title: `${j.group} ${up ? 'spent' : 'spent only'} ${currency} ${formatAmount(j.actual)} on ${j.day}, ${deltaText(j, currency)} against its baseline of ${currency} ${formatAmount(j.median)} (${BASELINE_WORDS[j.kind](j)}), score ${round(j.score, 1)}`,
    subject: `${what} ${j.group}`,
    fix: up
      ? `Find what changed in ${j.group} on ${j.day} (new or resized resources, a traffic or data-transfer surge, a price change) in the export's resource rows; if it was planned, silence the check for the day.`
      : `Check that ${j.group} still runs as it should on ${j.day} (a stopped service, a broken pipeline) or that a saving or credit explains it.`,
  };
}
